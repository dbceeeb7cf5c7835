"""The All Orders report parsers on real files: safe XML, flat by header name, constant memory.

Documents are written to disk here (plain and gzip) and read through the same ``Document`` the
download gives; the simulator's own documents are read in tests/e2e/test_backfill*.py.
"""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
from pathlib import Path

import pytest

from engine.adapters.amazon.order_report import (
    ReportBodyError,
    ReportDocumentError,
    check_body,
    iter_orders,
    validate,
    windows,
)
from engine.adapters.amazon.reports import Document

US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"


def _doc(tmp: Path, text: str | bytes, *, gz: bool = False, name: str = "d") -> Document:
    data = text.encode() if isinstance(text, str) else text
    path = tmp / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return Document(path, gz, "utf-8", hashlib.sha256(data).hexdigest(), len(data))


def _order_xml(i: int, *, pending: bool = False, channel: str = "Amazon.com") -> str:
    price = (
        ""
        if pending
        else (
            "<ItemPrice><Component><Type>Principal</Type>"
            '<Amount currency="USD">20.00</Amount></Component>'
            '<Component><Type>Tax</Type><Amount currency="USD">1.40</Amount></Component>'
            '<Component><Type>Shipping</Type><Amount currency="USD">4.99</Amount></Component>'
            "</ItemPrice>"
            "<Promotion><PromotionIDs>P1</PromotionIDs>"
            "<ItemPromotionDiscount>-2.00</ItemPromotionDiscount>"
            "<ShipPromotionDiscount>-4.99</ShipPromotionDiscount></Promotion>"
            "<TaxCollection><Model>MarketplaceFacilitator</Model></TaxCollection>"
        )
    )
    return (
        f"<Message><MessageID>{i}</MessageID><Order>"
        f"<AmazonOrderID>113-{i:07d}-0000001</AmazonOrderID>"
        "<PurchaseDate>2026-02-10T08:15:00-08:00</PurchaseDate>"
        "<LastUpdatedDate>2026-02-11T09:00:00+00:00</LastUpdatedDate>"
        f"<OrderStatus>{'Pending' if pending else 'Cancelled' if i % 7 == 3 else 'Shipped'}"
        "</OrderStatus>"
        f"<SalesChannel>{channel}</SalesChannel>"
        "<FulfillmentData><FulfillmentChannel>Merchant</FulfillmentChannel>"
        "<Address><City>Seattle</City><Country>US</Country></Address></FulfillmentData>"
        "<IsBusinessOrder>false</IsBusinessOrder><SomethingNew>x</SomethingNew>"
        f"<OrderItem><AmazonOrderItemCode>{i:014d}2</AmazonOrderItemCode>"
        "<ASIN>B0X</ASIN><SKU>SKU-2</SKU><Quantity>2</Quantity>"
        f"{price}</OrderItem>"
        f"<OrderItem><AmazonOrderItemCode>{i:014d}1</AmazonOrderItemCode>"
        "<ASIN>B0Y</ASIN><SKU>SKU-1</SKU><Quantity>1</Quantity></OrderItem>"
        "</Order></Message>"
    )


def _envelope(messages: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<Header><DocumentVersion>1.01</DocumentVersion></Header>"
        f"<MessageType>AllOrdersReport</MessageType>{messages}</AmazonEnvelope>"
    )


@pytest.mark.parametrize("gz", [False, True])
def test_xml_order_becomes_the_api_payload_shape(tmp_path: Path, gz: bool) -> None:
    doc = _doc(tmp_path, _envelope(_order_xml(1) + _order_xml(2, pending=True)), gz=gz)
    shipped, pending = list(iter_orders(doc, "xml", "NA", (US,)))
    assert shipped["order_id"] == "113-0000001-0000001"
    assert shipped["marketplace_id"] == US and shipped["region"] == "NA"
    assert shipped["status"] == "Shipped" and shipped["fulfillment"] == "MFN"
    assert shipped["purchase_date"] == "2026-02-10T16:15:00Z"  # offset -> UTC
    assert shipped["last_update"] == "2026-02-11T09:00:00Z"
    assert shipped["currency"] == "USD" and shipped["origin"] == "report"
    assert "prices" not in shipped
    first, second = shipped["lines"]  # sorted by order item id, as the API path does
    assert first["order_item_id"].endswith("1") and first["item_price"] is None
    assert second["item_price"] == "20.00" and second["unit_price"] == "10.00"
    assert second["item_tax"] == "1.40" and second["shipping_price"] == "4.99"
    assert second["promotion_discount"] == "2.00" and second["shipping_discount"] == "4.99"
    assert second["tax_model"] == "MARKETPLACE_FACILITATOR"
    assert pending["prices"] == "absent"
    assert all(ln["item_price"] is None for ln in pending["lines"])


def test_cancelled_spelling_and_unknown_channel(tmp_path: Path) -> None:
    doc = _doc(tmp_path, _envelope(_order_xml(3) + _order_xml(4, channel="Non-Amazon")))
    (only,) = list(iter_orders(doc, "xml", "NA", (US, "A2EUQ1WTGCTBG2")))
    assert only["status"] == "Canceled"  # the API's word, so the projector cancels it


def test_billion_laughs_is_refused_without_expanding(tmp_path: Path) -> None:
    lol = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
            for i in range(1, 10)
        )
        + "]>\n<AmazonEnvelope><Message><Order><AmazonOrderID>&lol9;</AmazonOrderID>"
        "</Order></Message></AmazonEnvelope>"
    )
    doc = _doc(tmp_path, lol)
    tracemalloc.start()
    try:
        with pytest.raises(ReportDocumentError, match="DTD"):
            validate(doc, "xml", "NA", (US,))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 << 20  # 10^9 "lol"s would be gigabytes


def test_external_entity_is_refused(tmp_path: Path) -> None:
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<AmazonEnvelope><Message><Order><AmazonOrderID>&e;</AmazonOrderID></Order></Message>"
        "</AmazonEnvelope>"
    )
    with pytest.raises(ReportDocumentError):
        validate(_doc(tmp_path, xxe), "xml", "NA", (US,))


def test_truncated_xml_is_refused_whole(tmp_path: Path) -> None:
    text = _envelope("".join(_order_xml(i) for i in range(50)))
    doc = _doc(tmp_path, text[: len(text) // 2])
    with pytest.raises(ReportDocumentError, match="XML refused"):
        validate(doc, "xml", "NA", (US,))


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(_envelope("".join(_order_xml(i) for i in range(200))).encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    doc = Document(path, True, "utf-8", "", 0)
    with pytest.raises(ReportDocumentError):
        validate(doc, "xml", "NA", (US,))


@pytest.mark.parametrize("fmt", ["xml", "flat"])
def test_date_range_exceeded_body_is_a_request_error(tmp_path: Path, fmt: str) -> None:
    doc = _doc(tmp_path, "Date range exceeded. Report can be requested only upto 30 days\n")
    with pytest.raises(ReportBodyError, match="date-range error"):
        check_body(doc, fmt)
    with pytest.raises(ReportBodyError):
        validate(doc, fmt, "NA", (US,))


def test_flat_file_by_header_name_with_extra_columns(tmp_path: Path) -> None:
    cols = (
        "new-first-column\tamazon-order-id\tpurchase-date\tlast-updated-date\torder-status\t"
        "fulfillment-channel\tsales-channel\tsku\tasin\tquantity\tcurrency\titem-price\t"
        "item-tax\tshipping-price\titem-promotion-discount\ttax-collection-model\tis-iba"
    )
    rows = [
        "x\t302-1-1\t2026-02-10T08:15:00+00:00\t2026-02-10T09:00:00+00:00\tShipped\tAmazon\t"
        "Amazon.de\tA\tB1\t3\tEUR\t30.00\t5.70\t0.00\t-3.00\t\tfalse",
        "x\t302-1-1\t2026-02-10T08:15:00+00:00\t2026-02-10T09:00:00+00:00\tShipped\tAmazon\t"
        "Amazon.de\tA\tB1\t1\tEUR\t10.00\t1.90\t0.00\t\t\tfalse",
        "x\t302-2-2\t2026-02-10T10:00:00+00:00\t2026-02-10T10:05:00+00:00\tPending\tMerchant\t"
        "Amazon.de\tC\tB2\t1\tEUR\t\t\t\t\t\tfalse",
    ]
    doc = _doc(tmp_path, "\r\n".join([cols, *rows]) + "\r\n")
    split, pending = list(iter_orders(doc, "flat", "EU", (DE,)))
    assert [ln["order_item_id"] for ln in split["lines"]] == ["flat:A:1", "flat:A:2"]
    assert split["line_ids"] == "weak" and split["marketplace_id"] == DE
    assert split["lines"][0]["promotion_discount"] == "3.00"
    assert split["fulfillment"] == "AFN"
    assert pending["prices"] == "absent" and pending["fulfillment"] == "MFN"


def test_flat_file_rows_of_an_order_must_be_adjacent(tmp_path: Path) -> None:
    head = "amazon-order-id\tlast-updated-date\torder-status\tsku\tquantity\tsales-channel"
    body = [
        "1\t2026-02-10T09:00:00+00:00\tShipped\tA\t1\tAmazon.de",
        "2\t2026-02-10T09:00:00+00:00\tShipped\tA\t1\tAmazon.de",
        "1\t2026-02-10T09:00:00+00:00\tShipped\tB\t1\tAmazon.de",
    ]
    doc = _doc(tmp_path, "\n".join([head, *body]) + "\n")
    with pytest.raises(ReportDocumentError, match="not adjacent"):
        validate(doc, "flat", "EU", (DE,))


def test_windows_are_midnight_aligned_and_at_most_30_days() -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 5, 13, 7, tzinfo=UTC)
    end = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    ws = windows(start, end, 30)
    assert ws[0][0] == datetime(2026, 1, 5, tzinfo=UTC) and ws[-1][1] == end
    assert all(b - a <= timedelta(days=30) for a, b in ws)
    assert all(a.hour == a.minute == 0 for a, _ in ws)
    assert all(ws[k][1] == ws[k + 1][0] for k in range(len(ws) - 1))


def _big_xml(path: Path, n: int) -> Document:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(_envelope("")[: -len("</AmazonEnvelope>")])
        for i in range(n):
            fh.write(_order_xml(i))
        fh.write("</AmazonEnvelope>")
    return Document(path, True, "utf-8", "", path.stat().st_size)


def test_parser_memory_is_constant_on_a_large_document(tmp_path: Path) -> None:
    """20,000 orders (40,000 lines, ~30 MB of XML; their payloads would be ~40 MB if kept):
    the parser's peak allocation stays under 2 MB, as for any size (nothing accumulates)."""
    n = 20_000
    doc = _big_xml(tmp_path / "big.xml", n)
    validate(doc, "xml", "NA", (US,))  # the expat-only pass is constant memory by nature
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_orders(doc, "xml", "NA", (US,)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 2 << 20, peak
