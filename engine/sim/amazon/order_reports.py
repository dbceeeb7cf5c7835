"""The All Orders reports, served from the simulated business through the Reports API.

Report types (``ORDER_REPORT_TYPES``) [D reporttype-values "Order tracking reports"]:
``GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL`` and ``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_
LAST_UPDATE_GENERAL`` select the orders whose last-updated-date lies in [dataStartTime,
dataEndTime]; the two ``..._BY_ORDER_DATE_GENERAL`` types select by purchase date. One document
covers every requested marketplace of the caller's region.

Amazon's behaviour, with its evidence:
- [D] Rows at item level; no customer-identifying information (no buyer name/email/phone, no
  address lines): only ship city/state/postal code/country, the same non-PII fields the Orders
  API gives without PII roles (``order_bodies.address(o, full=False)``).
- [D] "For self-fulfilled (MFN) orders, item price is not shown for orders in a pending state":
  Pending MFN lines carry no money (XML: no ``ItemPrice``/``Promotion``; flat: empty money
  columns). Pending AFN lines do carry their prices (the rule names MFN only).
- [C selling-partner-api-models#2591] Since about May 2023 a window wider than 30 days gives a
  DONE report whose document is the text ``DATE_RANGE_EXCEEDED`` (before: an empty report, #385).
- [D CreateReportSpecification] dataStartTime/dataEndTime must not be in the future: 400 here
  (the message is [G]); a start at or after the end is 400 too [G].
- [D order-reports page] orders can take up to 30 minutes to show in these reports (they become
  visible once fulfillable): each order is seen ``lag(order)`` seconds late, seeded uniform in
  [0, ``World.order_report_lag_s``] (default 1800, ``AmazonSimulator(order_report_lag_s=...)``).
- [I] The report shows each order as it stands when the report is generated (less its lag) and
  selects it by that current last-updated-date, as a query on the order store would: an order
  updated in one window and again in a later one appears only in the later window's report.
- [D "canceled if no eligible data"] A window that selects nothing ends CANCELLED, no document.
- [G] Processing takes ``World.order_report_processing_s`` (default 60 sim s; no SLA is
  documented; Airbyte polls every 30 s, wave2-anchors §1.4).
- [D FBA reports page] "the four All Orders reports are not subject to this limitation": no
  per-type cooldown; routes_reports.create_report skips ``ReportRules.too_soon`` for them.
- [U #442, docs#3277] Flat rows of the same order+sku repeat where the business has two lines
  of one SKU (``data.split_lines``); the XML tells them apart by ``AmazonOrderItemCode``.

XML element names: Amazon publishes no schema [U docs#3277]. [C] from public code that parses
this report (a TypeScript typing of an XML All Orders handler; a Python ETL of a
``GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL`` file): AmazonEnvelope/Message/Order with
AmazonOrderID, MerchantOrderID, PurchaseDate, LastUpdatedDate (``+00:00`` offset dates),
OrderStatus ("Cancelled" spelling), SalesChannel, FulfillmentData{FulfillmentChannel,
ShipServiceLevel, Address}, IsBusinessOrder, IsIba, OrderItem (one or many){AmazonOrderItemCode,
ASIN, SKU, ItemStatus, ProductName, Quantity, ItemPrice}. [I] ItemPrice/Component{Type,
Amount@currency} follows Amazon's XML money convention (order adjustment feeds, settlement and
shipment XML). [G] the envelope header, MessageType, MessageID, Address children, the Component
Type values beyond Principal, Promotion{PromotionIDs, ItemPromotionDiscount,
ShipPromotionDiscount}, PurchaseOrderNumber and TaxCollection. README "Order backfill from
reports" gives the same evidence levels.

Money equals the Orders API's for the same order (same ``SimLine``): line totals (unit x qty,
[D Seller Central "aggregate of the quantity, not unit price"]); discounts written <= 0 [G].

Documents are generated order by order and streamed gzip-compressed (chunked transfer), so a
50,000-order year is never held in memory as text.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator
from decimal import Decimal
from xml.sax.saxutils import escape

from aiohttp import web

from engine.sim.amazon.common import BadInput, iso
from engine.sim.amazon.data import DAY, OrderBook, SimLine, SimOrder, money
from engine.sim.amazon.order_bodies import address
from engine.sim.amazon.world import Report, World

__all__ = [
    "DATE_RANGE_EXCEEDED",
    "FLAT_COLUMNS",
    "MAX_WINDOW_S",
    "ORDER_REPORT_TYPES",
    "flat_rows",
    "prepare",
    "selected",
    "stream_document",
    "window",
    "xml_chunks",
]

XML_BY_UPDATE = "GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
FLAT_BY_UPDATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
XML_BY_DATE = "GET_XML_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
FLAT_BY_DATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
ORDER_REPORT_TYPES = frozenset({XML_BY_UPDATE, FLAT_BY_UPDATE, XML_BY_DATE, FLAT_BY_DATE})
MAX_WINDOW_S = 30 * DAY
DATE_RANGE_EXCEEDED = "Date range exceeded. Report can be requested only upto 30 days"

# [D] the documented column list, plus columns seen in real files [C wave2-anchors §1.2] at
# positions that are a guess [G]. BY_ORDER_DATE adds ``cpf`` before is-business-order [D].
FLAT_COLUMNS = (
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "url",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "number-of-items",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "promotion-ids",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
    "tax-collection-model",
    "tax-collection-responsible-party",
    "is-iba",
)
_STATUS = {"Pending": "Pending", "Unshipped": "Unshipped", "Shipped": "Shipped"}
_STATUS["Canceled"] = "Cancelled"  # the reports' spelling [C, weak]; the API says "Canceled"
_CHUNK = 64 * 1024


def is_xml(report_type: str) -> bool:
    return report_type.startswith("GET_XML_")


def window(start: float | None, end: float | None, now: float) -> tuple[float, float]:
    """The report's window; defaults: the last 30 days up to now. 400 if it reaches the future
    [D] or is empty [G]. Wider than 30 days is accepted here and answered in the document."""
    end = now if end is None else end
    start = end - MAX_WINDOW_S if start is None else start
    if end > now or start > now:
        raise BadInput(details="dataStartTime and dataEndTime must not be in the future.")
    if start >= end:
        raise BadInput(details="dataStartTime must be before dataEndTime.")
    return start, end


def prepare(world: World, r: Report) -> None:
    """Decide a DONE order report at creation: the "Date range exceeded" body, or CANCELLED
    when nothing is eligible; its processing time either way."""
    r.ready_after = world.order_report_processing_s
    if r.outcome != "DONE":
        return
    assert r.data_start is not None and r.data_end is not None
    if r.data_end - r.data_start > MAX_WINDOW_S:
        r.body_text = DATE_RANGE_EXCEEDED
        return
    if next(iter(selected(world, r)), None) is None:
        r.outcome = "CANCELLED"


def _lag(world: World, order_id: str) -> float:
    if world.order_report_lag_s <= 0:
        return 0.0
    h = hashlib.sha256(f"{world.seed}:report-lag:{order_id}".encode()).digest()
    return int.from_bytes(h[:4], "big") / 2**32 * world.order_report_lag_s


def selected(world: World, r: Report) -> Iterator[tuple[SimOrder, float]]:
    """(order, the moment the report sees it as of) for every eligible order, by purchase."""
    assert r.data_start is not None and r.data_end is not None
    seller = world.configs[r.seller].name
    mps = set(r.marketplace_ids)
    by_update = "LAST_UPDATE" in r.report_type
    lo = r.data_start - (OrderBook.MAX_LAG if by_update else 0)
    for o in world.book.purchased_between(lo, min(r.data_end, r.created) + 1):
        if o.seller != seller or o.marketplace.marketplace_id not in mps:
            continue
        seen = r.created - _lag(world, o.order_id)
        if o.purchased > seen:
            continue  # not visible in the reports yet
        t = o.last_update(seen) if by_update else o.purchased
        if r.data_start <= t <= r.data_end:
            yield o, seen


def _amount(v: Decimal, currency: str) -> str:
    return str(money(v, currency))  # the currency's exponent: "0.00", JPY "1500"


def _neg(v: Decimal, currency: str) -> str:
    return _amount(-v if v else v, currency)  # a discount as a reduction, never "-0.00"


def _priced(o: SimOrder, status: str) -> bool:
    return not (status == "Pending" and o.channel == "MFN")


def flat_rows(world: World, r: Report) -> Iterator[list[str]]:
    """The flat file's rows, header first, one per order line."""
    cols = list(FLAT_COLUMNS)
    cpf = "ORDER_DATE" in r.report_type
    if cpf:
        cols.insert(cols.index("is-business-order"), "cpf")
    yield cols
    for o, seen in selected(world, r):
        status = o.status(seen)
        priced = _priced(o, status)
        addr = address(o, False)
        for ln in o.lines:
            row = dict.fromkeys(cols, "")
            row |= {
                "amazon-order-id": o.order_id,
                "purchase-date": _date(o.purchased),
                "last-updated-date": _date(o.last_update(seen)),
                "order-status": _STATUS[status],
                "fulfillment-channel": "Amazon" if o.channel == "AFN" else "Merchant",
                "sales-channel": o.marketplace.name,
                "ship-service-level": _service_level(o),
                "product-name": ln.item.description,
                "sku": ln.item.sku,
                "asin": ln.item.asin,
                "number-of-items": "1",
                "item-status": _item_status(status),
                "quantity": str(ln.quantity),
                "currency": o.currency,
                "ship-city": addr["City"],
                "ship-state": addr["StateOrRegion"],
                "ship-postal-code": addr["PostalCode"],
                "ship-country": addr["CountryCode"],
                "is-business-order": "true" if o.is_business else "false",
                "purchase-order-number": o.business_po,
                "price-designation": "BusinessPrice" if o.is_business else "",
                "is-iba": "false",
            }
            if priced:
                cur = o.currency
                row |= {
                    "item-price": _amount(ln.item_price, cur),
                    "item-tax": _amount(ln.item_tax, cur),
                    "shipping-price": _amount(ln.shipping, cur),
                    "shipping-tax": _amount(ln.shipping_tax, cur),
                    "gift-wrap-price": _amount(ln.gift_wrap, cur),
                    "gift-wrap-tax": _amount(ln.gift_wrap_tax, cur),
                    "item-promotion-discount": _neg(ln.promotion, cur),
                    "ship-promotion-discount": _neg(ln.shipping_discount, cur),
                    "promotion-ids": ln.promotion_id,
                }
                if o.facilitator_tax:
                    row["tax-collection-model"] = "MarketplaceFacilitator"
                    row["tax-collection-responsible-party"] = "Amazon Services, Inc."
            yield [row[c].replace("\t", " ") for c in cols]


def _date(t: float) -> str:
    return iso(t).replace("Z", "+00:00")  # [C] "%Y-%m-%dT%H:%M:%S+00:00"


def _service_level(o: SimOrder) -> str:
    return "Std Cont US Street Addr" if o.channel == "MFN" else "Standard"  # as order_v0


def _item_status(status: str) -> str:
    return "Unshipped" if status == "Pending" else _STATUS[status]


def _el(name: str, text: str) -> str:
    return f"<{name}>{escape(text)}</{name}>"


def _components(ln: SimLine, cur: str) -> str:
    parts = [
        ("Principal", ln.item_price, True),
        ("Tax", ln.item_tax, True),
        ("Shipping", ln.shipping, False),
        ("ShippingTax", ln.shipping_tax, False),
        ("GiftWrap", ln.gift_wrap, False),
        ("GiftWrapTax", ln.gift_wrap_tax, False),
    ]
    return "".join(
        f'<Component><Type>{t}</Type><Amount currency="{cur}">{_amount(v, cur)}</Amount>'
        "</Component>"
        for t, v, always in parts
        if always or v
    )


def _order_xml(o: SimOrder, seen: float, index: int) -> str:
    status = o.status(seen)
    priced = _priced(o, status)
    addr = address(o, False)
    where = "".join(
        _el(tag, addr[key])
        for tag, key in (
            ("City", "City"),
            ("State", "StateOrRegion"),
            ("PostalCode", "PostalCode"),
            ("Country", "CountryCode"),
        )
        if addr[key]
    )
    out = [
        f"<Message><MessageID>{index}</MessageID><Order>",
        _el("AmazonOrderID", o.order_id),
        _el("PurchaseDate", _date(o.purchased)),
        _el("LastUpdatedDate", _date(o.last_update(seen))),
        _el("OrderStatus", _STATUS[status]),
        _el("SalesChannel", o.marketplace.name),
        "<FulfillmentData>",
        _el("FulfillmentChannel", "Amazon" if o.channel == "AFN" else "Merchant"),
        _el("ShipServiceLevel", _service_level(o)),
        f"<Address>{where}</Address></FulfillmentData>",
        _el("IsBusinessOrder", "true" if o.is_business else "false"),
    ]
    if o.business_po:
        out.append(_el("PurchaseOrderNumber", o.business_po))
    out.append(_el("IsIba", "false"))
    for ln in o.lines:
        out += [
            "<OrderItem>",
            _el("AmazonOrderItemCode", ln.order_item_id),
            _el("ASIN", ln.item.asin),
            _el("SKU", ln.item.sku),
            _el("ItemStatus", _item_status(status)),
            _el("ProductName", ln.item.description),
            _el("Quantity", str(ln.quantity)),
        ]
        if priced:
            out.append(f"<ItemPrice>{_components(ln, o.currency)}</ItemPrice>")
            if ln.promotion or ln.shipping_discount or ln.promotion_id:
                out += [
                    "<Promotion>",
                    _el("PromotionIDs", ln.promotion_id) if ln.promotion_id else "",
                    _el("ItemPromotionDiscount", _neg(ln.promotion, o.currency)),
                    _el("ShipPromotionDiscount", _neg(ln.shipping_discount, o.currency)),
                    "</Promotion>",
                ]
            if o.facilitator_tax:
                out.append(
                    "<TaxCollection><Model>MarketplaceFacilitator</Model>"
                    "<ResponsibleParty>Amazon Services, Inc.</ResponsibleParty></TaxCollection>"
                )
        out.append("</OrderItem>")
    out.append("</Order></Message>\n")
    return "".join(out)


def xml_chunks(world: World, r: Report, orders: Iterable[tuple[SimOrder, float]]) -> Iterator[str]:
    """The XML document, one Message (order) per string."""
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n<AmazonEnvelope xmlns:xsi="http://www.w3.org/'
        '2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">\n'
        "<Header><DocumentVersion>1.01</DocumentVersion></Header>\n"
        "<MessageType>AllOrdersReport</MessageType>\n"
    )
    for i, (o, seen) in enumerate(orders, 1):
        yield _order_xml(o, seen, i)
    yield "</AmazonEnvelope>\n"


def _flat_charset(r: Report) -> str:
    from engine.sim.amazon.sellers import marketplace

    mp = marketplace(r.marketplace_ids[0])
    return {"JP": "cp932", "US": "UTF-8", "CA": "UTF-8"}.get(mp.country if mp else "", "Cp1252")


async def stream_document(
    request: web.Request,
    world: World,
    r: Report,
    *,
    content_encoding: bool,
    charsetless: bool,
    truncate: bool,
) -> web.StreamResponse:
    """Generate, gzip and send the document chunk by chunk (no Content-Length, like a chunked
    transfer). ``truncate``: the storage host dies half-way through the orders."""
    if r.body_text is not None:
        charset, ctype = "UTF-8", "text/plain"
        texts: Iterator[str] = iter([r.body_text])
    elif is_xml(r.report_type):
        charset, ctype = "UTF-8", "text/xml"
        orders = list(selected(world, r))  # references only: the text is generated lazily
        if truncate:
            orders = orders[: len(orders) // 2]
        texts = xml_chunks(world, r, orders)
    else:
        charset, ctype = _flat_charset(r), "text/plain"
        texts = ("\t".join(row) + "\r\n" for row in flat_rows(world, r))
        if truncate:
            texts = _first_half(texts, sum(len(o.lines) for o, _ in selected(world, r)) // 2)
    headers = {"Content-Type": ctype if charsetless else f"{ctype}; charset={charset}"}
    if content_encoding:
        headers["Content-Encoding"] = "gzip"
    resp = web.StreamResponse(headers=headers)
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    buf: list[bytes] = []
    size = 0
    for text in texts:
        buf.append(text.encode(charset, errors="replace"))
        size += len(buf[-1])
        if size >= _CHUNK:
            await resp.write(packer.compress(b"".join(buf)))
            buf, size = [], 0
    tail = packer.compress(b"".join(buf))
    if truncate:
        await resp.write(tail)
        if request.transport is not None:
            request.transport.close()  # no end of the gzip stream, no last chunk
        return resp
    await resp.write(tail + packer.flush())
    await resp.write_eof()
    return resp


def _first_half(rows: Iterator[str], keep: int) -> Iterator[str]:
    for i, row in enumerate(rows):
        if i > keep:
            return
        yield row
