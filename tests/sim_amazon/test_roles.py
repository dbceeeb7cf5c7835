"""SP-API roles in the simulator: a call needing a role the seller lacks answers Amazon's 403.

Over real HTTP: per operation and per report type, the exact error envelope, a grant through
``/__sim/roles`` taking effect on the next call (same access token), the restricted role behind
PII, ``isParticipating=false`` and the ``sim amazon --deny-role`` flag.
"""

from __future__ import annotations

import argparse

import aiohttp
import pytest

from engine.sim.amazon import AmazonSimulator
from engine.sim.amazon.cli import add_arguments, run
from engine.sim.amazon.roles import FORBIDDEN
from engine.sim.amazon.sellers import SellerConfig
from tests.sim_amazon.conftest import Client

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
SETTLEMENT = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
DENIED = {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                      "details": ""}]}  # fmt: skip


def reports(rtype: str) -> str:
    return f"/reports/2021-06-30/reports?reportTypes={rtype}&pageSize=10"


async def test_without_finance_settlements_and_finances_are_refused_orders_are_not():
    sim = AmazonSimulator(seed=2, history_days=20, denied_roles=["Finance and Accounting"])
    async with sim, aiohttp.ClientSession() as http:
        c = Client(sim, http)
        st, body, headers = await c.call("GET", reports(SETTLEMENT))
        assert (st, body) == (403, DENIED)
        assert "expired" not in str(body).lower()  # must not read as an expired access token
        assert "x-amzn-RateLimit-Limit" not in headers
        st, body, _ = await c.call("GET", "/finances/v0/financialEventGroups")
        assert (st, body) == (403, DENIED)
        # Orders open to any of many roles [D]: Inventory and Order Tracking is still there.
        st, body, _ = await c.call(
            "GET", f"/orders/v0/orders?MarketplaceIds={US}&CreatedAfter=2026-02-01T00:00:00Z"
        )
        assert st == 200 and body["payload"]["Orders"]
        st, _, _ = await c.call("GET", reports("GET_MERCHANT_LISTINGS_ALL_DATA"))
        assert st == 200
        # Two types in one listing: one without its role refuses the whole call.
        st, _, _ = await c.call("GET", reports(f"GET_MERCHANT_LISTINGS_ALL_DATA,{SETTLEMENT}"))
        assert st == 403

        # The seller grants the role: the same access token works on the next call.
        async with http.post(
            f"{sim.base_url}/__sim/roles", json={"seller": 0, "grant": ["Finance and Accounting"]}
        ) as r:
            assert r.status == 200 and "Finance and Accounting" in (await r.json())["roles"][0]
        st, body, _ = await c.call("GET", reports(SETTLEMENT))
        assert st == 200 and body["reports"], "granted role opens the settlement reports"
        settlement_id = body["reports"][0]["reportId"]
        doc_id = body["reports"][0]["reportDocumentId"]
        # Revoked again: the report's own id and its document are refused as well.
        sim.revoke_role("Finance and Accounting")
        for path in (f"/reports/2021-06-30/reports/{settlement_id}",
                     f"/reports/2021-06-30/documents/{doc_id}"):  # fmt: skip
            st, body, _ = await c.call("GET", path)
            assert (st, body) == (403, DENIED), path
        async with http.post(f"{sim.base_url}/__sim/roles", json={"grant": ["Finance"]}) as r:
            assert r.status == 400 and "known roles" in (await r.json())["error"]


async def test_fba_needs_fulfillment_or_listing_and_listings_need_product_listing():
    async with AmazonSimulator(seed=2, history_days=2) as sim, aiohttp.ClientSession() as http:
        c = Client(sim, http)
        fba = f"/fba/inventory/v1/summaries?granularityType=Marketplace&granularityId={US}" \
              f"&marketplaceIds={US}&details=true"  # fmt: skip
        seller_id = sim.sellers[0].seller_id
        listing = f"/listings/2021-08-01/items/{seller_id}/NO-SUCH-SKU?marketplaceIds={US}"
        sim.revoke_role("Product Listing")
        st, _, _ = await c.call("GET", fba)
        assert st == 200, "Amazon Fulfillment alone opens getInventorySummaries [D]"
        st, body, _ = await c.call("GET", listing)
        assert (st, body) == (403, DENIED)
        sim.revoke_role("Amazon Fulfillment")
        st, body, _ = await c.call("GET", fba)
        assert (st, body) == (403, DENIED)
        st, _, _ = await c.call(
            "POST",
            "/reports/2021-06-30/reports",
            json={"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [US]},
        )
        assert st == 202, "Inventory and Order Tracking still opens the listings report [I]"
        sim.grant_role("Product Listing")
        st, _, _ = await c.call("GET", listing)
        assert st == 404, "authorised now: the unknown SKU is what Amazon answers"


async def test_restricted_role_gates_pii_and_message_variant():
    sim = AmazonSimulator(
        seed=2,
        history_days=3,
        denied_roles=["Direct-to-Consumer Shipping (Restricted)"],
        role_denied_message=FORBIDDEN,
        operation_roles={"getInventorySummaries": ["Brand Analytics"]},
    )
    async with sim, aiohttp.ClientSession() as http:
        c = Client(sim, http)
        resources = [{"method": "GET", "path": "/orders/v0/orders/{orderId}/address",
                      "dataElements": ["shippingAddress"]}]  # fmt: skip
        st, body, _ = await c.call(
            "POST",
            "/tokens/2021-03-01/restrictedDataToken",
            json={"restrictedResources": resources},
        )
        assert st == 400 and "does not have access" in body["errors"][0]["message"]
        sim.revoke_role("Brand Analytics")
        fba = f"/fba/inventory/v1/summaries?granularityType=Marketplace&granularityId={US}" \
              f"&marketplaceIds={US}"  # fmt: skip
        st, body, _ = await c.call("GET", fba)
        assert st == 403 and body["errors"][0] == {
            "code": "Unauthorized", "message": FORBIDDEN, "details": ""}  # fmt: skip
        sim.grant_role("Direct-to-Consumer Shipping (Restricted)")
        st, body, _ = await c.call(
            "POST",
            "/tokens/2021-03-01/restrictedDataToken",
            json={"restrictedResources": resources},
        )
        assert st == 200 and body["restrictedDataToken"].startswith("Atz.sprdt|")


async def test_not_participating_marketplace_and_explicit_roles():
    sellers = [SellerConfig(not_participating=(CA,)), SellerConfig(name="b", has_pii_role=False)]
    sim = AmazonSimulator(seed=2, history_days=2, sellers=sellers, roles={0: ["Pricing"]})
    async with sim, aiohttp.ClientSession() as http:
        c = Client(sim, http)
        st, body, _ = await c.call("GET", "/sellers/v1/marketplaceParticipations")
        assert st == 200
        flags = {p["marketplace"]["id"]: p["participation"]["isParticipating"]
                 for p in body["payload"]}  # fmt: skip
        assert flags[CA] is False and flags[US] is True
        st, _, _ = await c.call("GET", reports(SETTLEMENT))
        assert st == 403, "seller 0 holds only Pricing"
        assert sim.world.roles.pii(1) is False and sim.world.roles.has(1, "Finance and Accounting")
        sim.set_participating(CA, True)
        st, body, _ = await c.call("GET", "/sellers/v1/marketplaceParticipations")
        assert all(p["participation"]["isParticipating"] for p in body["payload"])


def test_cli_deny_role_is_checked(capsys: pytest.CaptureFixture[str]):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--deny-role", "Finance"])) == 2
    assert "known roles" in capsys.readouterr().out
    args = parser.parse_args(["--deny-role", "finance and accounting", "--not-participating", CA])
    assert args.deny_role == ["finance and accounting"] and args.not_participating == [CA]
