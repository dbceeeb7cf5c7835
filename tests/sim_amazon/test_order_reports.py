"""The simulator's All Orders reports over real HTTP (engine/sim/amazon/order_reports.py):

- the XML by-last-update document holds exactly the business's orders updated in the window,
  each line with its AmazonOrderItemCode and the same money as the Orders API's getOrderItems;
- the flat file (parse by header) has one row per line with the same money, and two rows of one
  order+sku where the business really has two lines of that SKU;
- a window wider than 30 days ends DONE with the "Date range exceeded" body; an empty window
  ends CANCELLED; dataEndTime in the future is refused;
- Pending MFN orders carry no price (AFN Pending do); no buyer PII in any document;
- these report types have no per-type cooldown (the sim's report_cooldown_s does not apply).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

import aiohttp
import defusedxml.ElementTree as SafeET
import pytest

from engine.sim.amazon import AmazonSimulator
from engine.sim.amazon.common import iso
from engine.sim.amazon.data import DAY, SimOrder
from engine.sim.amazon.order_reports import DATE_RANGE_EXCEEDED, FLAT_COLUMNS
from tests.sim_amazon.conftest import Client

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
XML = "GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
FLAT = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
REPORTS = "/reports/2021-06-30/reports"
# The Orders API's item money and the XML component that carries it (r1-notes.md).
API_TO_XML = {
    "ItemPrice": "Principal",
    "ItemTax": "Tax",
    "ShippingPrice": "Shipping",
    "ShippingTax": "ShippingTax",
}


@pytest.fixture
async def world() -> AsyncIterator[tuple[AmazonSimulator, Client]]:
    """No visibility lag (the report equals the business now), some split lines, no usage
    plans (the test compares every order against the Orders API)."""
    async with (
        AmazonSimulator(
            seed=5,
            orders_per_day=40,
            history_days=6,
            order_report_lag_s=0,
            split_line_share=0.5,
            rate_limits=False,
        ) as sim,
        aiohttp.ClientSession() as http,
    ):
        yield sim, Client(sim, http)


async def create(client: Client, rtype: str, start: float, end: float, mps: list[str]) -> str:
    spec = {
        "reportType": rtype,
        "marketplaceIds": mps,
        "dataStartTime": iso(start),
        "dataEndTime": iso(end),
    }
    st, body, _ = await client.call("POST", REPORTS, json=spec)
    assert st == 202, body
    return str(body["reportId"])


async def finished(sim: AmazonSimulator, client: Client, rid: str) -> dict[str, Any]:
    st, body, _ = await client.call("GET", f"{REPORTS}/{rid}")
    assert st == 200 and body["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS")
    sim.advance(timedelta(seconds=sim.world.order_report_processing_s + 1))
    st, body, _ = await client.call("GET", f"{REPORTS}/{rid}")
    assert st == 200
    return body


async def document(client: Client, report: dict[str, Any]) -> tuple[str, aiohttp.ClientResponse]:
    doc = report["reportDocumentId"]
    st, body, _ = await client.call("GET", f"/reports/2021-06-30/documents/{doc}")
    assert st == 200 and body["compressionAlgorithm"] == "GZIP"
    async with client.http.get(str(body["url"])) as r:
        assert r.status == 200
        raw = await r.read()
    charset = r.charset or "UTF-8"
    return gzip.decompress(raw).decode(charset), r


async def report_text(
    sim: AmazonSimulator, client: Client, rtype: str, start: float, end: float, mps: list[str]
) -> str:
    rep = await finished(sim, client, await create(client, rtype, start, end, mps))
    assert rep["processingStatus"] == "DONE", rep
    text, _ = await document(client, rep)
    return text


def updated_in(sim: AmazonSimulator, start: float, end: float, mps: list[str]) -> list[SimOrder]:
    """The business's orders whose last update, as of ``end`` (the moment the test created
    its report), lies in the window."""
    return [
        o
        for o in sim.truth.orders()
        if o.marketplace.marketplace_id in mps
        and o.purchased <= end
        and start <= o.last_update(end) <= end
    ]


def text_of(e: Element, path: str) -> str:
    found = e.find(path)
    assert found is not None and found.text is not None, path
    return found.text


async def api_items(client: Client, order_id: str) -> list[dict[str, Any]]:
    st, body, _ = await client.call("GET", f"/orders/v0/orders/{order_id}/orderItems")
    assert st == 200, body
    payload = body["payload"]
    assert isinstance(payload, dict)
    return list(payload["OrderItems"])


async def test_xml_holds_the_businesss_orders_with_the_api_money(world) -> None:
    sim, client = world
    now = sim.world.now()
    start, end, mps = now - 3 * DAY, now, [US, CA]
    root = SafeET.fromstring(await report_text(sim, client, XML, start, end, mps))
    orders = [m.find("Order") for m in root.findall("Message")]
    expected = updated_in(sim, start, end, mps)
    assert len(expected) > 40  # both marketplaces, a few days
    assert [text_of(o, "AmazonOrderID") for o in orders if o is not None] == [
        o.order_id for o in expected
    ]
    split = compared = 0
    for el, order in zip(orders, expected, strict=True):
        assert el is not None
        assert text_of(el, "LastUpdatedDate") == iso(order.last_update(now)).replace("Z", "+00:00")
        items = {i["OrderItemId"]: i for i in await api_items(client, order.order_id)}
        lines = el.findall("OrderItem")
        assert [text_of(i, "AmazonOrderItemCode") for i in lines] == list(items)
        skus = Counter(text_of(i, "SKU") for i in lines)
        split += sum(n - 1 for n in skus.values())
        for line in lines:
            api = items[text_of(line, "AmazonOrderItemCode")]
            assert text_of(line, "SKU") == api["SellerSKU"]
            assert int(text_of(line, "Quantity")) == api["QuantityOrdered"]
            if "ItemPrice" not in api:  # Pending: no API price (the report's rule is tested below)
                assert order.status(now) == "Pending"
                continue
            compared += 1
            money = {
                text_of(c, "Type"): (
                    Decimal(text_of(c, "Amount")),
                    c.find("Amount").get("currency"),  # type: ignore[union-attr]
                )
                for c in line.findall("ItemPrice/Component")
            }
            for api_name, xml_type in API_TO_XML.items():
                amount, currency = money.get(xml_type, (Decimal(0), api[api_name]["CurrencyCode"]))
                assert (amount, currency) == (
                    Decimal(api[api_name]["Amount"]),
                    api[api_name]["CurrencyCode"],
                ), (order.order_id, api_name)
            promo = line.find("Promotion")
            discount = (
                Decimal(text_of(promo, "ItemPromotionDiscount"))
                if promo is not None
                else Decimal(0)
            )
            assert -discount == Decimal(api["PromotionDiscount"]["Amount"])
            ship_off = (
                Decimal(text_of(promo, "ShipPromotionDiscount"))
                if promo is not None
                else Decimal(0)
            )
            assert -ship_off == Decimal(api["ShippingDiscount"]["Amount"])
            wrap = money.get("GiftWrap", (Decimal(0), ""))[0]
            assert wrap == Decimal(
                api.get("BuyerInfo", {}).get("GiftWrapPrice", {}).get("Amount", 0)
            )
    assert compared > 40
    assert split > 0  # the business has lines of one SKU twice: two AmazonOrderItemCodes


async def test_flat_file_rows_per_line_by_header_with_the_same_money(world) -> None:
    sim, client = world
    now = sim.world.now()
    start, end = now - 3 * DAY, now
    text = await report_text(sim, client, FLAT, start, end, [US])
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    header = text.split("\r\n", 1)[0].split("\t")
    documented = "amazon-order-id merchant-order-id purchase-date last-updated-date order-status"
    assert set(documented.split()) | {
        "item-price",
        "ship-postal-code",
        "tax-collection-model",
    } <= set(header)
    assert tuple(header) == FLAT_COLUMNS
    expected = updated_in(sim, start, end, [US])
    want = [(o.order_id, ln.item.sku, ln) for o in expected for ln in o.lines]
    assert [(r["amazon-order-id"], r["sku"]) for r in rows] == [(a, b) for a, b, _ in want]
    for row, (_, _, ln) in zip(rows, want, strict=True):
        assert Decimal(row["item-price"]) == ln.item_price
        assert Decimal(row["item-tax"]) == ln.item_tax
        assert Decimal(row["shipping-price"]) == ln.shipping
        assert -Decimal(row["item-promotion-discount"]) == ln.promotion
        assert -Decimal(row["ship-promotion-discount"]) == ln.shipping_discount
        assert row["currency"] == "USD" and row["ship-country"] == "US"
    pairs = Counter((r["amazon-order-id"], r["sku"]) for r in rows)
    assert any(n > 1 for n in pairs.values())  # duplicate-looking rows, as in real files


async def test_a_window_over_30_days_is_done_with_the_error_body(world) -> None:
    sim, client = world
    now = sim.world.now()
    for rtype in (XML, FLAT):
        text = await report_text(sim, client, rtype, now - 31 * DAY, now, [US])
        assert text.strip() == DATE_RANGE_EXCEEDED


async def test_a_window_without_orders_ends_cancelled(world) -> None:
    sim, client = world
    before = sim.world.book.origin - 10 * DAY  # long before the first order
    rep = await finished(sim, client, await create(client, XML, before, before + DAY, [US]))
    assert rep["processingStatus"] == "CANCELLED" and "reportDocumentId" not in rep


async def test_the_end_of_the_window_must_not_be_in_the_future(world) -> None:
    sim, client = world
    now = sim.world.now()
    spec = {
        "reportType": XML,
        "marketplaceIds": [US],
        "dataStartTime": iso(now - DAY),
        "dataEndTime": iso(now + 600),
    }
    st, body, _ = await client.call("POST", REPORTS, json=spec)
    assert st == 400 and "future" in str(body)


async def test_pending_mfn_has_no_price_and_no_document_has_pii(world) -> None:
    sim, client = world
    now = sim.world.now()
    seller = sim.world.configs[0].name
    nxt = [o for o in sim.world.book.purchased_between(now, now + DAY) if o.seller == seller]
    mfn = next(o for o in nxt if o.channel == "MFN" and o.marketplace.marketplace_id == US)
    sim.advance(timedelta(seconds=mfn.purchased + 1 - now))  # just bought: Pending
    now = sim.world.now()
    assert mfn.status(now) == "Pending"
    text = await report_text(sim, client, XML, now - DAY, now, [US])
    root = SafeET.fromstring(text)
    by_id = {text_of(m, "Order/AmazonOrderID"): m.find("Order") for m in root.findall("Message")}
    el = by_id[mfn.order_id]
    assert el is not None and text_of(el, "OrderStatus") == "Pending"
    assert el.findall("OrderItem") and not el.findall("OrderItem/ItemPrice")
    priced = [e for e in by_id.values() if e is not None and e.findall("OrderItem/ItemPrice")]
    assert priced  # the others (shipped, unshipped; AFN even when pending) carry prices
    for e in by_id.values():
        assert e is not None
        mfn_pending = text_of(e, "OrderStatus") == "Pending" and (
            text_of(e, "FulfillmentData/FulfillmentChannel") == "Merchant"
        )
        assert bool(e.findall("OrderItem/ItemPrice")) is not mfn_pending
    flat = await report_text(sim, client, FLAT, now - DAY, now, [US])
    row = next(
        r
        for r in csv.DictReader(io.StringIO(flat), delimiter="\t")
        if r["amazon-order-id"] == mfn.order_id
    )
    assert row["order-status"] == "Pending" and row["item-price"] == "" and row["item-tax"] == ""
    for doc in (text, flat):
        for pii in ("Buyer ", "@marketplace.amazon", "Sample Street", "+1 555", "AddressLine"):
            assert pii not in doc


async def test_all_orders_reports_have_no_cooldown(world) -> None:
    sim, client = world
    assert sim.world.report_rules.cooldown_s == 600.0  # the other types' cooldown is on
    now = sim.world.now()
    ids = [await create(client, XML, now - DAY * (i + 1), now - DAY * i, [US]) for i in range(3)]
    sim.advance(timedelta(seconds=sim.world.order_report_processing_s + 1))
    for rid in ids:
        st, body, _ = await client.call("GET", f"{REPORTS}/{rid}")
        assert (st, body["processingStatus"]) == (200, "DONE")


def test_split_lines_keep_the_business_money_and_quantities() -> None:
    from engine.sim.amazon.data import OrderBook
    from engine.sim.amazon.sellers import SellerConfig

    def book(share: float) -> OrderBook:
        b = OrderBook(7, [SellerConfig()], 0.0, 20, 60, None, None, share)
        b.ensure(19 * DAY)
        return b

    plain, split = book(0.0), book(1.0)
    assert [o.order_id for o in plain.orders] == [o.order_id for o in split.orders]
    grew = 0
    for a, b in zip(plain.orders, split.orders, strict=True):
        assert a.total() == b.total(), a.order_id
        qty_a: Counter[str] = Counter()
        qty_b: Counter[str] = Counter()
        for ln in a.lines:
            qty_a[ln.item.sku] += ln.quantity
        for ln in b.lines:
            qty_b[ln.item.sku] += ln.quantity
        assert qty_a == qty_b
        ids = [ln.order_item_id for ln in b.lines]
        assert len(set(ids)) == len(ids)  # every line its own OrderItemId
        assert {ln.order_item_id for ln in a.lines} <= set(ids)  # the original ids kept
        grew += len(b.lines) - len(a.lines)
        if a.channel == "MFN":
            assert a.lines == b.lines  # only FBA lines ship from two centres
    assert grew > 20


async def test_by_order_date_flat_file_selects_by_purchase_and_has_cpf(world) -> None:
    sim, client = world
    now = sim.world.now()
    start, end = now - 2 * DAY, now - DAY
    rtype = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
    text = await report_text(sim, client, rtype, start, end, [US])
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    header = text.split("\r\n", 1)[0].split("\t")
    assert header.index("cpf") == header.index("is-business-order") - 1
    placed = [o for o in sim.truth.orders(marketplace_id=US) if start <= o.purchased <= end]
    assert [r["amazon-order-id"] for r in rows] == [o.order_id for o in placed for _ in o.lines]
