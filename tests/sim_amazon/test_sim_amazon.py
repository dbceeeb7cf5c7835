from __future__ import annotations

import gzip
from datetime import timedelta
from decimal import Decimal

import aiohttp

from engine.sim.amazon import AmazonSimulator, SellerConfig
from engine.sim.amazon.common import iso

US = "ATVPDKIKX0DER"


async def test_lwa_errors_and_expiry(sim, client):
    s = sim.sellers[0]
    async with client.http.post(
        sim.lwa_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "Atzr|nope",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
        },
    ) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_grant"
    async with client.http.post(
        sim.lwa_url,
        json={
            "grant_type": "refresh_token",
            "refresh_token": s.refresh_token("NA"),
            "client_id": s.client_id,
            "client_secret": "bad",
        },
    ) as r:
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"
    tok = await client.token()
    assert tok.startswith("Atza|")
    st, _, _ = await client.call("GET", "/sellers/v1/marketplaceParticipations", token=tok)
    assert st == 200
    sim.advance(timedelta(seconds=3601))
    st, body, h = await client.call("GET", "/sellers/v1/marketplaceParticipations", token=tok)
    assert (
        st == 403 and body["errors"][0]["details"] == "The access token you provided has expired."
    )
    assert "x-amzn-RequestId" in h and "x-amzn-RateLimit-Limit" not in h


async def test_region_mismatch_and_marketplace_validation(client):
    eu = await client.token("EU")
    st, body, _ = await client.call("GET", "/sellers/v1/marketplaceParticipations", token=eu)
    assert st == 403 and body["errors"][0]["code"] == "Unauthorized"
    st, body, _ = await client.call(
        "GET",
        "/orders/v0/orders",
        params={"MarketplaceIds": "A1PA6795UKMFR9", "CreatedAfter": "2026-02-20T00:00:00Z"},
    )
    assert st == 400 and body["errors"][0]["code"] == "InvalidInput"


async def test_two_minute_rule(sim, client):
    now = sim.clock.now()
    params = {
        "MarketplaceIds": US,
        "CreatedAfter": iso(now - timedelta(days=1)),
        "CreatedBefore": iso(now - timedelta(seconds=60)),
    }
    st, body, _ = await client.call("GET", "/orders/v0/orders", params=params)
    assert st == 400 and body["errors"][0]["code"] == "InvalidInput"
    params["CreatedBefore"] = iso(now - timedelta(seconds=180))
    st, body, h = await client.call("GET", "/orders/v0/orders", params=params)
    assert st == 200 and body["payload"]["CreatedBefore"] == params["CreatedBefore"]
    assert h["x-amzn-RateLimit-Limit"] == "0.0167"


async def test_paging_to_the_end_matches_truth_and_token_is_url_safety_tested(sim, client):
    after = sim.clock.now() - timedelta(days=10)
    seen: list[str] = []
    params = {"MarketplaceIds": US, "LastUpdatedAfter": iso(after), "MaxResultsPerPage": "17"}
    raw_token = None
    while True:
        st, body, _ = await client.call("GET", "/orders/v0/orders", params=params)
        assert st == 200
        seen += [o["AmazonOrderId"] for o in body["payload"]["Orders"]]
        token = body["payload"].get("NextToken")
        if not token:
            break
        assert "+" in token and "/" in token and token.endswith("=")
        raw_token = token
        # v0: the next page repeats the filters (NextToken "doesn't affect any filters")
        params = {**params, "NextToken": token}
    before = sim.clock.now() - timedelta(minutes=2)
    expected = {
        o.order_id
        for o in sim.truth.orders(marketplace_id=US)
        if after.timestamp() <= o.last_update(before.timestamp()) < before.timestamp()
    }
    assert len(seen) == len(set(seen)) and set(seen) == expected and len(seen) > 17
    # a token sent without URL-encoding ("+" becomes a space) is rejected like Amazon does
    assert raw_token is not None
    url = f"{sim.endpoint('NA')}/orders/v0/orders?MarketplaceIds={US}&NextToken={raw_token}"
    tok = client.tokens["NA"]
    async with client.http.get(yarl_raw(url), headers={"x-amz-access-token": tok}) as r:
        body = await r.json()
        assert r.status == 400 and "could not decode your NextToken" in body["errors"][0]["message"]


def yarl_raw(url: str):
    import yarl

    return yarl.URL(url, encoded=True)


async def test_pending_orders_have_no_prices_and_pii_needs_rdt(sim, client):
    now = sim.world.now()
    future = next(
        o
        for o in sim.world.book.orders
        if o.purchased > now + 300 and o.marketplace.region == "NA" and o.seller == "demo"
    )
    sim.advance(timedelta(seconds=future.purchased - now + 5))
    now = sim.world.now()
    pending = future
    assert pending.status(now) == "Pending"
    orders = sim.truth.orders(marketplace_id=US)
    shipped = next(o for o in orders if o.status(now) == "Shipped" and o.channel == "MFN")
    st, body, _ = await client.call("GET", f"/orders/v0/orders/{pending.order_id}")
    assert st == 200 and "OrderTotal" not in body["payload"]
    st, body, _ = await client.call("GET", f"/orders/v0/orders/{pending.order_id}/orderItems")
    assert "ItemPrice" not in body["payload"]["OrderItems"][0]
    st, body, _ = await client.call("GET", f"/orders/v0/orders/{shipped.order_id}")
    assert isinstance(body["payload"]["OrderTotal"]["Amount"], str)
    assert Decimal(body["payload"]["OrderTotal"]["Amount"]) == shipped.total()
    st, _, _ = await client.call("GET", f"/orders/v0/orders/{shipped.order_id}/address")
    assert st == 403
    st, rdt, _ = await client.call(
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        json={
            "restrictedResources": [
                {"method": "GET", "path": "/orders/v0/orders/{orderId}/address"}
            ]
        },
    )
    assert st == 200 and rdt["restrictedDataToken"].startswith("Atz.sprdt|")
    st, body, _ = await client.call(
        "GET", f"/orders/v0/orders/{shipped.order_id}/address", token=rdt["restrictedDataToken"]
    )
    assert st == 200 and "AddressLine1" in body["payload"]["ShippingAddress"]


async def test_seller_without_pii_role_gets_400_on_rdt():
    from tests.sim_amazon.conftest import Client

    cfg = [SellerConfig(has_pii_role=False)]
    async with AmazonSimulator(seed=2, sellers=cfg) as sim, aiohttp.ClientSession() as http:
        c = Client(sim, http)
        resources = [
            {
                "method": "GET",
                "path": "/orders/v0/orders",
                "dataElements": ["buyerInfo", "shippingAddress"],
            }
        ]
        st, body, _ = await c.call(
            "POST",
            "/tokens/2021-03-01/restrictedDataToken",
            json={"restrictedResources": resources},
        )
        assert st == 400
        assert "does not have access" in body["errors"][0]["message"]


async def test_429_at_documented_burst(client):
    codes = []
    for _ in range(16):
        st, _, h = await client.call("GET", "/sellers/v1/marketplaceParticipations")
        codes.append(st)
    assert codes[:15] == [200] * 15 and codes[15] == 429
    st, body, h = await client.call("GET", "/sellers/v1/marketplaceParticipations")
    assert body["errors"][0]["code"] == "QuotaExceeded" and "x-amzn-RateLimit-Limit" not in h


async def test_report_lifecycle_and_document_expiry(sim, client):
    st, body, _ = await client.call(
        "POST",
        "/reports/2021-06-30/reports",
        json={"reportType": "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2", "marketplaceIds": [US]},
    )
    assert st == 400 and "1118" in body["errors"][0]["message"]
    st, body, _ = await client.call(
        "POST",
        "/reports/2021-06-30/reports",
        json={"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [US]},
    )
    assert st == 202
    rid = body["reportId"]
    statuses = []
    for step in (0, 15, 40):
        sim.advance(timedelta(seconds=step))
        _, rep, _ = await client.call("GET", f"/reports/2021-06-30/reports/{rid}")
        statuses.append(rep["processingStatus"])
    assert statuses == ["IN_QUEUE", "IN_PROGRESS", "DONE"]
    _, doc, _ = await client.call("GET", f"/reports/2021-06-30/documents/{rep['reportDocumentId']}")
    async with client.http.get(doc["url"]) as r:
        assert r.status == 200 and doc["compressionAlgorithm"] == "GZIP"
        text = gzip.decompress(await r.read()).decode(r.charset or "utf-8")
        assert text.startswith("item-name\t")
    sim.advance(timedelta(seconds=301))
    async with client.http.get(doc["url"]) as r:
        assert r.status == 403
    sim.faults.add("report_outcome", outcome="FATAL")
    _, body, _ = await client.call(
        "POST",
        "/reports/2021-06-30/reports",
        json={"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [US]},
    )
    sim.advance(timedelta(minutes=1))
    _, rep, _ = await client.call("GET", f"/reports/2021-06-30/reports/{body['reportId']}")
    assert rep["processingStatus"] == "FATAL"


async def test_get_reports_next_token_only(client):
    params = {"reportTypes": "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2", "pageSize": "1"}
    st, body, _ = await client.call("GET", "/reports/2021-06-30/reports", params=params)
    assert st == 200 and body["nextToken"]
    st, _, _ = await client.call(
        "GET", "/reports/2021-06-30/reports", params=params | {"nextToken": body["nextToken"]}
    )
    assert st == 400
    st, body2, _ = await client.call(
        "GET", "/reports/2021-06-30/reports", params={"nextToken": body["nextToken"]}
    )
    assert st == 200 and body2["reports"][0]["reportId"] != body["reports"][0]["reportId"]


def _parse(text: str, locale: str) -> Decimal:
    if locale == "DE":
        text = text.replace(".", "").replace(",", ".")
    return Decimal(text.replace(",", ""))


async def test_settlement_files_reconcile_per_locale(sim, client):
    sim.world.report_rules.charsetless_share = 0.0  # here the charset names the locale
    for region, locales in (("NA", {"US"}), ("EU", {"DE", "UK"}), ("FE", {"JP"})):
        _, body, _ = await client.call(
            "GET",
            "/reports/2021-06-30/reports",
            region=region,
            params={"reportTypes": "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2", "pageSize": "100"},
        )
        seen = set()
        for rep in body["reports"]:
            _, doc, _ = await client.call(
                "GET", "/reports/2021-06-30/documents/" + rep["reportDocumentId"], region=region
            )
            async with client.http.get(doc["url"]) as r:
                charset = r.charset
                lines = gzip.decompress(await r.read()).decode(charset).splitlines()
            header = lines[0].split("\t")
            assert len(header) == 24 and header[-1] == "promotion-id"
            summary = dict(zip(header, lines[1].split("\t"), strict=True))
            locale = {"UTF-8": "US", "cp932": "JP"}.get(
                charset, "DE" if summary["currency"] == "EUR" else "UK"
            )
            seen.add(locale)
            total = _parse(summary["total-amount"], locale)
            amounts = [_parse(ln.split("\t")[14], locale) for ln in lines[2:]]
            assert sum(amounts) == total and len(amounts) > 10
        assert locales <= seen
    assert len(sim.truth.settlements()) >= 8


async def test_fba_next_token_expires_after_30s(sim, client):
    params = {
        "granularityType": "Marketplace",
        "granularityId": US,
        "marketplaceIds": US,
        "details": "true",
    }
    st, body, _ = await client.call("GET", "/fba/inventory/v1/summaries", params=params)
    assert st == 200 and body["pagination"]["nextToken"]
    truth = sim.truth.fba_inventory(None, US)
    s0 = body["payload"]["inventorySummaries"][0]
    assert s0["inventoryDetails"]["fulfillableQuantity"] == truth[s0["sellerSku"]]
    sim.advance(timedelta(seconds=31))
    st, body, _ = await client.call(
        "GET", "/fba/inventory/v1/summaries", params={"nextToken": body["pagination"]["nextToken"]}
    )
    assert st == 400


async def test_listings_patch_applies_after_delay_or_never(sim, client):
    sid = sim.sellers[0].seller_id
    sku = "MLC-1010-M"
    path = f"/listings/2021-08-01/items/{sid}/{sku}"
    _, item, _ = await client.call("GET", path, params={"marketplaceIds": US})
    patch = {
        "productType": item["summaries"][0]["productType"],  # the listing's own (strict sim)
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}],
            }
        ],
    }
    st, body, _ = await client.call("PATCH", path, params={"marketplaceIds": US}, json=patch)
    assert st == 200 and body["status"] == "ACCEPTED"
    get = {"marketplaceIds": US, "includedData": "fulfillmentAvailability"}
    _, item, _ = await client.call("GET", path, params=get)
    assert item["fulfillmentAvailability"][0]["quantity"] != 7
    sim.advance(timedelta(minutes=6))  # default delay: 5 simulated minutes
    _, item, _ = await client.call("GET", path, params=get)
    assert item["fulfillmentAvailability"][0]["quantity"] == 7
    bad = {"productType": "PRODUCT", "patches": [{"op": "replace", "path": "/x", "value": []}]}
    st, body, _ = await client.call("PATCH", path, params={"marketplaceIds": US}, json=bad)
    assert st == 400 and body["errors"][0]["code"] == "InvalidInput"  # a malformed patch
    sim.faults.add("listing_not_applied")
    patch["patches"][0]["value"][0]["quantity"] = 3
    _, body, _ = await client.call("PATCH", path, params={"marketplaceIds": US}, json=patch)
    assert body["status"] == "ACCEPTED"
    sim.advance(timedelta(minutes=6))
    _, item, _ = await client.call("GET", path, params=get)
    assert item["fulfillmentAvailability"][0]["quantity"] == 7


async def test_faults_status_and_deterministic_data(sim, client):
    sim.faults.add("status", operation="getMarketplaceParticipations", status=503)
    st, _, _ = await client.call("GET", "/sellers/v1/marketplaceParticipations")
    assert st == 503
    async with AmazonSimulator(seed=3, orders_per_day=30) as again:
        assert [o.order_id for o in again.truth.orders()] == [
            o.order_id for o in sim.truth.orders()
        ]
