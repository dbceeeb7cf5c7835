"""The Listings Items API simulator is as strict as Amazon (issue 15), asserted over real HTTP.

Every test talks to a running AmazonSimulator through a plain aiohttp client; SKUs go into the
path as quote(sku, safe="") the way a correct client sends them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from engine.sim.amazon import AmazonSimulator
from engine.sim.amazon.cli import add_arguments, run
from engine.sim.amazon.listing_rules import ListingRules
from engine.sim.amazon.listing_state import ODD_SKU
from engine.sim.amazon.sellers import SellerConfig
from tests.sim_amazon.conftest import Client

US, CA, DE = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1PA6795UKMFR9"
MFN_SKU, FBA_SKU = "MLC-1010-M", "MLC-1000-F"
ALL_DATA = "summaries,attributes,issues,offers,fulfillmentAvailability"


@pytest.fixture
async def lsim() -> AsyncIterator[AmazonSimulator]:
    async with AmazonSimulator(seed=3, orders_per_day=5, rate_limits=False) as s:
        yield s


@pytest.fixture
async def api(lsim: AmazonSimulator) -> AsyncIterator[Listings]:
    async with aiohttp.ClientSession() as http:
        yield Listings(Client(lsim, http))


class Listings:
    """getListingsItem / patchListingsItem over HTTP for one seller."""

    def __init__(self, client: Client, seller: int = 0) -> None:
        self.client, self.seller = client, seller
        self.sim = client.sim

    def path(self, sku: str) -> str:
        sid = self.sim.sellers[self.seller].seller_id
        return f"/listings/2021-08-01/items/{sid}/{quote(sku, safe='')}"

    async def get(
        self, sku: str, included: str = ALL_DATA, mp: str = US, region: str = "NA"
    ) -> tuple[int, dict[str, Any]]:
        params = {"marketplaceIds": mp}
        if included:
            params["includedData"] = included
        st, body, _ = await self.client.call(
            "GET", self.path(sku), region=region, params=params, token=await self._token(region)
        )
        return st, body

    async def attrs(self, sku: str, mp: str = US) -> dict[str, Any]:
        st, body = await self.get(sku, "attributes", mp)
        assert st == 200, body
        return dict(body["attributes"])

    async def product_type(self, sku: str, mp: str = US) -> str:
        st, body = await self.get(sku, "summaries", mp)
        assert st == 200, body
        return str(body["summaries"][0]["productType"])

    async def patch(
        self,
        sku: str,
        patches: list[dict[str, Any]],
        product_type: str | None = None,
        mp: str = US,
        **params: str,
    ) -> tuple[int, dict[str, Any]]:
        body = {
            "productType": product_type or await self.product_type(sku, mp),
            "patches": patches,
        }
        st, out, _ = await self.client.call(
            "PATCH",
            self.path(sku),
            params={"marketplaceIds": mp, **params},
            json=body,
            token=await self._token("NA"),
        )
        return st, out

    async def _token(self, region: str) -> str:
        key = f"{region}:{self.seller}"
        if key not in self.client.tokens:
            self.client.tokens[key] = await self.client.token(region, self.seller)
        return self.client.tokens[key]

    def later(self, seconds: float | None = None) -> None:
        """Let simulated time pass (default: just past the apply delay); tokens may expire."""
        self.sim.advance(timedelta(seconds=seconds or self.sim.world.listing_rules.delay_s + 1))
        self.client.tokens.clear()


def offer(price: float, **extra: Any) -> dict[str, Any]:
    return {"our_price": [{"schedule": [{"value_with_tax": price}]}], **extra}


def by_audience(attrs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["audience"]: e for e in attrs["purchasable_offer"]}


def price_of(entry: dict[str, Any]) -> float:
    return float(entry["our_price"][0]["schedule"][0]["value_with_tax"])


# -- read-back and seed data -------------------------------------------------------------------


async def test_read_back_carries_marketplace_audience_currency_and_language(api: Listings) -> None:
    attrs = await api.attrs(MFN_SKU)
    for entry in attrs["item_name"] + attrs["product_description"] + attrs["bullet_point"]:
        assert entry["language_tag"] == "en_US" and entry["marketplace_id"] == US
    offers = by_audience(attrs)
    assert set(offers) == {"ALL", "B2B"}
    assert all(o["currency"] == "USD" and o["marketplace_id"] == US for o in offers.values())
    assert offers["ALL"]["discounted_price"][0]["schedule"][0]["value_with_tax"] > 0
    assert offers["ALL"]["minimum_seller_allowed_price"] and offers["B2B"]["quantity_discount_plan"]
    (fa,) = attrs["fulfillment_availability"]
    assert fa["fulfillment_channel_code"] == "DEFAULT" and fa["marketplace_id"] == US
    assert fa["lead_time_to_ship_max_days"] == 2 and isinstance(fa["quantity"], int)
    # A value sent without what Amazon adds comes back with it, so read-back != what was sent.
    sent = [offer(19.99)]
    st, body = await api.patch(
        MFN_SKU, [{"op": "replace", "path": "/attributes/purchasable_offer", "value": sent}]
    )
    assert st == 200 and body["status"] == "ACCEPTED", body
    api.later()
    back = (await api.attrs(MFN_SKU))["purchasable_offer"]
    assert back != sent
    assert back == [{"audience": "ALL", "currency": "USD", "marketplace_id": US, **sent[0]}]


async def test_every_seller_is_seeded_with_rich_varied_listings_and_an_odd_sku() -> None:
    sellers = [SellerConfig(name="north"), SellerConfig(name="europe", regions=("EU",))]
    async with (
        AmazonSimulator(seed=5, orders_per_day=2, rate_limits=False, sellers=sellers) as sim,
        aiohttp.ClientSession() as http,
    ):
        for seller, region, mp, lang, cur in (
            (0, "NA", US, "en_US", "USD"),
            (1, "EU", DE, "de_DE", "EUR"),
        ):
            api = Listings(Client(sim, http), seller)
            types = set()
            for item in sim.world.book.catalog:
                st, body = await api.get(item.sku, "summaries", mp, region)
                assert st == 200, body
                types.add(body["summaries"][0]["productType"])
            assert len(types) >= 3 and "PRODUCT" not in types
            st, body = await api.get(ODD_SKU, "summaries,attributes", mp, region)
            assert st == 200 and body["sku"] == ODD_SKU, body
            offers = {e["audience"]: e for e in body["attributes"]["purchasable_offer"]}
            assert set(offers) == {"ALL", "B2B"} and offers["ALL"]["currency"] == cur
            assert "discounted_price" in offers["ALL"]
            assert body["attributes"]["item_name"][0]["language_tag"] == lang
            fa = body["attributes"]["fulfillment_availability"][0]
            assert fa["lead_time_to_ship_max_days"] == 2
            st, body = await api.get(FBA_SKU, "fulfillmentAvailability", mp, region)
            assert body["fulfillmentAvailability"] == [
                {"fulfillmentChannelCode": f"AMAZON_{region}"}
            ]


async def test_odd_sku_round_trips_only_when_percent_encoded(api: Listings) -> None:
    assert all(c in ODD_SKU for c in "/# ") and not ODD_SKU.isascii()
    st, body = await api.get(ODD_SKU, "summaries")
    assert st == 200 and body["sku"] == ODD_SKU
    sid = api.sim.sellers[0].seller_id
    token = await api._token("NA")
    raw = f"/listings/2021-08-01/items/{sid}/{ODD_SKU}"  # '/' splits, '#' starts a fragment
    st, _, _ = await api.client.call("GET", raw, params={"marketplaceIds": US}, token=token)
    assert st == 404
    twice = f"/listings/2021-08-01/items/{sid}/{quote(quote(ODD_SKU, safe=''), safe='')}"
    st, body, _ = await api.client.call("GET", twice, params={"marketplaceIds": US}, token=token)
    assert st == 404 and "MLC-9001%2F" in body["errors"][0]["message"]
    # A patch of the odd SKU is accepted and applied under the same decoded SKU.
    value = [{"value": "Winkel Größe A/2", "language_tag": "en_US", "marketplace_id": US}]
    st, body = await api.patch(
        ODD_SKU, [{"op": "replace", "path": "/attributes/item_name", "value": value}]
    )
    assert st == 200 and body["status"] == "ACCEPTED" and body["sku"] == ODD_SKU, body
    api.later()
    assert (await api.attrs(ODD_SKU))["item_name"] == value


async def test_slash_sku_patch_403_rule_when_switched_on() -> None:
    rules = ListingRules(slash_sku_patch_403=True)
    async with (
        AmazonSimulator(seed=3, orders_per_day=1, rate_limits=False, listing_rules=rules) as sim,
        aiohttp.ClientSession() as http,
    ):
        api = Listings(Client(sim, http))
        st, body = await api.patch(ODD_SKU, [{"op": "delete", "path": "/attributes/brand"}])
        assert st == 403 and body["errors"][0]["code"] == "Unauthorized"
        st, _ = await api.get(ODD_SKU)  # reads still work
        assert st == 200


# -- validation ------------------------------------------------------------------------------


async def test_product_type_must_be_the_listings(api: Listings) -> None:
    real = await api.product_type(MFN_SKU)
    assert real != "PRODUCT"
    patches = [{"op": "merge", "path": "/attributes/purchasable_offer", "value": [offer(9.5)]}]
    st, body = await api.patch(MFN_SKU, patches, product_type="PRODUCT")
    assert st == 200 and body["status"] == "INVALID"
    assert [i["severity"] for i in body["issues"]] == ["ERROR"]
    assert real in body["issues"][0]["message"]
    api.later(3600)
    assert price_of(by_audience(await api.attrs(MFN_SKU))["ALL"]) != 9.5  # never applied
    st, body = await api.patch(MFN_SKU, patches, product_type=real)
    assert body["status"] == "ACCEPTED" and body["issues"] == []


async def test_offer_lenient_product_type_accepts_product_for_offer_attributes_only() -> None:
    rules = ListingRules(product_type_check="offer_lenient")
    async with (
        AmazonSimulator(seed=3, orders_per_day=1, rate_limits=False, listing_rules=rules) as sim,
        aiohttp.ClientSession() as http,
    ):
        api = Listings(Client(sim, http))
        offer_patch = {
            "op": "merge",
            "path": "/attributes/purchasable_offer",
            "value": [offer(9.5)],
        }
        st, body = await api.patch(MFN_SKU, [offer_patch], product_type="PRODUCT")
        assert st == 200 and body["status"] == "ACCEPTED", body
        title = [{"value": "T", "language_tag": "en_US", "marketplace_id": US}]
        title_patch = {"op": "replace", "path": "/attributes/item_name", "value": title}
        _st, body = await api.patch(MFN_SKU, [offer_patch, title_patch], product_type="PRODUCT")
        assert body["status"] == "INVALID"


@pytest.mark.parametrize("missing", ["language_tag", "marketplace_id"])
@pytest.mark.parametrize("name", ["item_name", "product_description", "bullet_point"])
async def test_localized_values_need_language_tag_and_marketplace_id(
    api: Listings, name: str, missing: str
) -> None:
    entry = {"value": "New text", "language_tag": "en_US", "marketplace_id": US}
    del entry[missing]
    st, body = await api.patch(
        MFN_SKU, [{"op": "replace", "path": f"/attributes/{name}", "value": [entry]}]
    )
    assert st == 200 and body["status"] == "INVALID", body
    (i,) = body["issues"]
    assert i["severity"] == "ERROR" and i["attributeNames"] == [name] and missing in i["message"]
    entry[missing] = "en_US" if missing == "language_tag" else US
    st, body = await api.patch(
        MFN_SKU, [{"op": "replace", "path": f"/attributes/{name}", "value": [entry]}]
    )
    assert body["status"] == "ACCEPTED", body


async def test_localized_tag_rule_can_be_relaxed() -> None:
    rules = ListingRules(require_localized_tags=False)
    async with (
        AmazonSimulator(seed=3, orders_per_day=1, rate_limits=False, listing_rules=rules) as sim,
        aiohttp.ClientSession() as http,
    ):
        api = Listings(Client(sim, http))
        p = {"op": "replace", "path": "/attributes/item_name", "value": [{"value": "Bare"}]}
        _st, body = await api.patch(MFN_SKU, [p])
        assert body["status"] == "ACCEPTED"
        api.later()
        # Amazon still files it under the request's marketplace.
        assert (await api.attrs(MFN_SKU))["item_name"] == [{"value": "Bare", "marketplace_id": US}]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"op": "remove", "path": "/attributes/brand"},
            "Invalid op provided in patch at index of 0.",
        ),
        ({"op": "test", "path": "/attributes/brand", "value": []}, "Invalid op provided"),
        (
            {"op": "replace", "path": "/attributes/purchasable_offer/0", "value": [offer(3.0)]},
            "Invalid path provided in patch at index of 0.",
        ),
        ({"op": "replace", "path": "/purchasable_offer", "value": []}, "Invalid path"),
        (
            {"op": "replace", "path": "/attributes/item_name", "value": {"value": "x"}},
            "Invalid path",
        ),
        ({"op": "replace", "path": "/attributes/item_name"}, "Invalid path"),
    ],
)
async def test_malformed_patches_are_400_invalid_input(
    api: Listings, patch: dict[str, Any], message: str
) -> None:
    ok = {
        "op": "delete",
        "path": "/attributes/brand",
        "value": [{"marketplace_id": US, "language_tag": "en_US"}],
    }
    st, body = await api.patch(MFN_SKU, [ok, patch])
    assert st == 400, body
    err = body["errors"][0]
    assert err["code"] == "InvalidInput" and message.replace("0.", "1.") in err["message"]


async def test_body_without_product_type_or_patches_is_400(api: Listings) -> None:
    token = await api._token("NA")
    for bad in (
        {"patches": [{"op": "delete", "path": "/attributes/brand"}]},
        {"productType": "HARDWARE", "patches": []},
        [],
    ):
        st, body, _ = await api.client.call(
            "PATCH", api.path(MFN_SKU), params={"marketplaceIds": US}, json=bad, token=token
        )
        assert st == 400 and body["errors"][0]["code"] == "InvalidInput"


@pytest.mark.parametrize("op", ["add", "replace", "merge", "delete"])
async def test_every_model_op_is_accepted(api: Listings, op: str) -> None:
    value = [{"marketplace_id": US, "currency": "USD", "audience": "B2B"}]
    if op != "delete":
        value[0] |= offer(11.0)
    st, body = await api.patch(
        MFN_SKU, [{"op": op, "path": "/attributes/purchasable_offer", "value": value}]
    )
    assert st == 200 and body["status"] == "ACCEPTED" and body["issues"] == [], body


@pytest.mark.parametrize(
    ("patch", "word"),
    [
        (
            {
                "op": "replace",
                "path": "/attributes/purchasable_offer",
                "value": [offer(5.0, currency="CAD")],
            },
            "currency",
        ),
        (
            {
                "op": "replace",
                "path": "/attributes/purchasable_offer",
                "value": [offer(5.0, marketplace_id=CA)],
            },
            "marketplace_id",
        ),
        (
            {"op": "replace", "path": "/attributes/purchasable_offer", "value": [offer(-1.0)]},
            "purchasable_offer",
        ),
        (
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": -2}],
            },
            "fulfillment_availability",
        ),
        (
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"quantity": 4}],
            },
            "fulfillment_channel_code",
        ),
        ({"op": "delete", "path": "/attributes/purchasable_offer"}, "Selector"),
    ],
)
async def test_content_errors_are_invalid_with_error_issues(
    api: Listings, patch: dict[str, Any], word: str
) -> None:
    st, body = await api.patch(MFN_SKU, [patch])
    assert st == 200 and body["status"] == "INVALID", body
    assert body["issues"] and all(i["severity"] == "ERROR" for i in body["issues"])
    assert any(word in i["message"] or word in i["attributeNames"] for i in body["issues"])


async def test_issues_in_every_response_warning_still_accepted(api: Listings) -> None:
    entry = {"value": "Merged", "language_tag": "en_US", "marketplace_id": US}
    st, body = await api.patch(
        MFN_SKU, [{"op": "merge", "path": "/attributes/item_name", "value": [entry]}]
    )
    assert body["status"] == "ACCEPTED"
    assert [i["severity"] for i in body["issues"]] == ["WARNING"]
    assert set(body["issues"][0]) >= {"code", "message", "severity", "attributeNames", "categories"}
    # includedData=identifiers is for VALIDATION_PREVIEW only; a preview is VALID and never applies.
    p = [{"op": "merge", "path": "/attributes/purchasable_offer", "value": [offer(1.23)]}]
    st, body = await api.patch(MFN_SKU, p, includedData="identifiers")
    assert st == 400
    st, body = await api.patch(
        MFN_SKU, p, includedData="identifiers,issues", mode="VALIDATION_PREVIEW"
    )
    assert body["status"] == "VALID" and body["identifiers"][0]["asin"] and body["issues"] == []
    st, body = await api.patch(MFN_SKU, p, includedData="identifiers", mode="VALIDATION_PREVIEW")
    assert "issues" not in body  # only what includedData names
    api.later()
    assert price_of(by_audience(await api.attrs(MFN_SKU))["ALL"]) != 1.23


# -- timing and faults -----------------------------------------------------------------------


async def test_changes_show_only_after_the_configured_delay() -> None:
    assert ListingRules().delay_s == 300.0  # "a few minutes" by default [C docs#2167]
    async with (
        AmazonSimulator(seed=3, orders_per_day=1, rate_limits=False, listing_delay_s=900.0) as sim,
        aiohttp.ClientSession() as http,
    ):
        api = Listings(Client(sim, http))
        p = [{"op": "merge", "path": "/attributes/purchasable_offer", "value": [offer(42.0)]}]
        _st, body = await api.patch(MFN_SKU, p)
        assert body["status"] == "ACCEPTED"
        api.later(899)
        assert price_of(by_audience(await api.attrs(MFN_SKU))["ALL"]) != 42.0
        api.later(2)
        assert price_of(by_audience(await api.attrs(MFN_SKU))["ALL"]) == 42.0


async def test_default_delay_and_listing_not_applied_fault(api: Listings) -> None:
    p = [{"op": "merge", "path": "/attributes/purchasable_offer", "value": [offer(31.0)]}]
    await api.patch(MFN_SKU, p)
    api.later(299)
    assert price_of(by_audience(await api.attrs(MFN_SKU))["ALL"]) != 31.0
    api.later(2)
    assert price_of(by_audience(await api.attrs(MFN_SKU))["ALL"]) == 31.0
    api.sim.faults.add("listing_not_applied", operation="patchListingsItem")
    p[0]["value"] = [offer(32.0)]
    _st, body = await api.patch(MFN_SKU, p)
    assert body["status"] == "ACCEPTED" and body["issues"] == []
    api.later(86400)
    assert price_of(by_audience(await api.attrs(MFN_SKU))["ALL"]) == 31.0  # never applied


async def test_cli_listing_delay_reaches_the_running_simulator() -> None:
    """`sim amazon --listing-delay-minutes 1`: applied after 60 simulated s, not before."""
    argv = [sys.executable, "-m", "engine", "sim", "amazon", "--port", "0", "--no-rate-limits",
            "--orders-per-day", "1", "--history-days", "1",
            "--listing-delay-minutes", "1"]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            banner: dict[str, str] = {}
            for line in proc.stdout:
                if line.startswith("Amazon SP-API simulator at "):
                    banner["base"] = line.split()[4]
                elif ":" in line and line.startswith("  "):
                    key, _, value = line.strip().partition(":")
                    banner[key] = value.split()[0] if value.split() else ""
                if line.startswith("Press Ctrl-C"):
                    break
            base = banner["base"]
            async with aiohttp.ClientSession() as http:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": banner["refresh_token NA"],
                    "client_id": banner["client_id"],
                    "client_secret": banner["client_secret"],
                }
                async with http.post(base + "/auth/o2/token", data=form) as r:
                    token = (await r.json())["access_token"]
                head = {"x-amz-access-token": token}
                url = f"{base}/na/listings/2021-08-01/items/{banner['seller_id']}/{MFN_SKU}"
                q = {"marketplaceIds": US, "includedData": "summaries,attributes"}

                async def price() -> float:
                    async with http.get(url, params=q, headers=head) as r:
                        return price_of(by_audience((await r.json())["attributes"])["ALL"])

                async with http.get(url, params=q, headers=head) as r:
                    ptype = (await r.json())["summaries"][0]["productType"]
                body = {"productType": ptype, "patches": [
                    {"op": "merge", "path": "/attributes/purchasable_offer", "value": [offer(7.25)]}
                ]}  # fmt: skip
                async with http.patch(
                    url, params={"marketplaceIds": US}, json=body, headers=head
                ) as r:
                    assert (await r.json())["status"] == "ACCEPTED"
                async with http.post(base + "/__sim/clock/advance", json={"seconds": 50}) as r:
                    assert r.status == 200
                assert await price() != 7.25
                async with http.post(base + "/__sim/clock/advance", json={"seconds": 15}) as r:
                    assert r.status == 200
                assert await price() == 7.25
        finally:
            proc.terminate()
            proc.wait(10)


def test_cli_flag_and_rule_values_are_checked() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).listing_delay_minutes == 5.0
    assert run(parser.parse_args(["--listing-delay-minutes", "-1"])) == 2
    for bad in ({"replace_scope": "all"}, {"product_type_check": "loose"}, {"delay_s": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ListingRules(**bad)


# -- write semantics -------------------------------------------------------------------------


async def test_replace_really_replaces_the_whole_attribute(api: Listings) -> None:
    before_ca = await api.attrs(MFN_SKU, CA)
    _, body = await api.patch(
        MFN_SKU,
        [{"op": "replace", "path": "/attributes/purchasable_offer", "value": [offer(12.0)]}],
    )
    assert body["status"] == "ACCEPTED"
    _st, body = await api.patch(
        MFN_SKU,
        [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}],
            }
        ],
    )
    assert body["status"] == "ACCEPTED"
    api.later()
    attrs = await api.attrs(MFN_SKU)
    (only,) = attrs["purchasable_offer"]  # B2B entry gone
    assert only["audience"] == "ALL" and price_of(only) == 12.0
    assert "discounted_price" not in only and "minimum_seller_allowed_price" not in only
    assert attrs["fulfillment_availability"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 5, "marketplace_id": US}
    ]  # lead_time_to_ship_max_days lost
    # Other marketplaces' entries are not the request's: kept as they were.
    after_ca = await api.attrs(MFN_SKU, CA)
    assert after_ca["purchasable_offer"] == before_ca["purchasable_offer"]
    # The new entry took the replaced one's place (the US offer still comes first).
    stored = api.sim.truth.listings()[MFN_SKU]["attributes"]
    assert isinstance(stored, dict) and stored["purchasable_offer"][0] == only


async def test_merge_changes_only_the_sub_fields_sent(api: Listings) -> None:
    before = await api.attrs(MFN_SKU)
    _st, body = await api.patch(
        MFN_SKU,
        [
            {"op": "merge", "path": "/attributes/purchasable_offer", "value": [offer(14.0)]},
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 8}],
            },
        ],
    )
    assert body["status"] == "ACCEPTED" and body["issues"] == []
    api.later()
    after = await api.attrs(MFN_SKU)
    old, new = by_audience(before), by_audience(after)
    assert new["B2B"] == old["B2B"] and price_of(new["ALL"]) == 14.0
    assert {k: v for k, v in new["ALL"].items() if k != "our_price"} == {
        k: v for k, v in old["ALL"].items() if k != "our_price"
    }
    (fa,) = after["fulfillment_availability"]
    assert fa["quantity"] == 8 and fa["lead_time_to_ship_max_days"] == 2
    for name in ("item_name", "bullet_point", "product_description", "brand", "condition_type"):
        assert after[name] == before[name]


async def test_selector_replace_scope_keeps_other_audiences() -> None:
    rules = ListingRules(replace_scope="selector")
    async with (
        AmazonSimulator(seed=3, orders_per_day=1, rate_limits=False, listing_rules=rules) as sim,
        aiohttp.ClientSession() as http,
    ):
        api = Listings(Client(sim, http))
        b2b = by_audience(await api.attrs(MFN_SKU))["B2B"]
        p = [{"op": "replace", "path": "/attributes/purchasable_offer", "value": [offer(13.0)]}]
        await api.patch(MFN_SKU, p)
        api.later()
        offers = by_audience(await api.attrs(MFN_SKU))
        assert offers["B2B"] == b2b and "discounted_price" not in offers["ALL"]


async def test_delete_by_selector_and_sub_attribute(api: Listings) -> None:
    b2b = {"marketplace_id": US, "currency": "USD", "audience": "B2B"}
    sale = {"marketplace_id": US, "currency": "USD", "audience": "ALL", "discounted_price": []}
    _st, body = await api.patch(
        MFN_SKU,
        [
            {"op": "delete", "path": "/attributes/purchasable_offer", "value": [b2b]},
            {"op": "delete", "path": "/attributes/purchasable_offer", "value": [sale]},
        ],
    )
    assert body["status"] == "ACCEPTED", body
    api.later()
    (only,) = (await api.attrs(MFN_SKU))["purchasable_offer"]
    assert only["audience"] == "ALL" and "discounted_price" not in only
    assert "minimum_seller_allowed_price" in only


async def test_default_channel_on_an_fba_sku_adds_a_merchant_channel(api: Listings) -> None:
    st, body = await api.get(FBA_SKU, "fulfillmentAvailability,summaries")
    assert body["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "AMAZON_NA"}]
    assert body["summaries"][0]["fnSku"]
    p = {
        "op": "replace",
        "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 0}],
    }
    st, body = await api.patch(FBA_SKU, [p])
    assert (
        st == 200 and body["status"] == "ACCEPTED" and body["issues"] == []
    )  # Amazon raises no issue
    api.later()
    _st, body = await api.get(FBA_SKU, "fulfillmentAvailability,attributes")
    assert body["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "AMAZON_NA"},
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 0},
    ]
    codes = [e["fulfillment_channel_code"] for e in body["attributes"]["fulfillment_availability"]]
    assert codes == ["AMAZON_NA", "DEFAULT"]


async def test_price_below_minimum_suppresses_the_offer(api: Listings) -> None:
    st, body = await api.get(MFN_SKU, "issues,summaries")
    assert st == 200 and body["issues"] == [] and "BUYABLE" in body["summaries"][0]["status"]
    low = by_audience(await api.attrs(MFN_SKU))["ALL"]["minimum_seller_allowed_price"]
    floor = float(low[0]["schedule"][0]["value_with_tax"])
    await api.patch(
        MFN_SKU,
        [
            {
                "op": "merge",
                "path": "/attributes/purchasable_offer",
                "value": [offer(round(floor / 2, 2))],
            }
        ],
    )
    api.later()
    _st, body = await api.get(MFN_SKU, "issues,summaries")
    (i,) = body["issues"]
    assert i["code"] == "18155" and i["severity"] == "ERROR" and i["marketplaceIds"] == [US]
    assert body["summaries"][0]["status"] == ["DISCOVERABLE"]


# -- includedData ----------------------------------------------------------------------------


async def test_get_honours_included_data(api: Listings) -> None:
    st, body = await api.get(MFN_SKU, "")
    assert set(body) == {"sku", "summaries"}  # default: summaries
    for part in ("attributes", "issues", "offers", "fulfillmentAvailability", "summaries"):
        st, body = await api.get(MFN_SKU, part)
        assert st == 200 and set(body) == {"sku", part}
    st, body = await api.get(MFN_SKU, "offers")
    types = {(o["offerType"], o["audience"]["value"]) for o in body["offers"]}
    assert types == {("B2C", "ALL"), ("B2B", "B2B")}
    assert all(o["price"]["currencyCode"] == "USD" for o in body["offers"])
    st, body = await api.get(MFN_SKU, "summaries,bogus")
    assert st == 400 and body["errors"][0]["code"] == "InvalidInput"
    st, body = await api.get("NO-SUCH-SKU", "summaries")
    assert st == 404
