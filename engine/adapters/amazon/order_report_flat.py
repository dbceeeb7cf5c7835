"""``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL`` (TSV) parsed as a stream.

The fallback of the XML report (``[backfill] format = "flat"``). Columns are found by header
name and extra columns are ignored: real files carry columns the documented list lacks
(``number-of-items``, ``tax-collection-model``, ``url``, ``is-iba``) [C reference §1.2].

The flat file has **no order-item id** [D/U reference §1.3], and rows of one order and SKU can
repeat (split lines). A line's id is then the weak key ``flat:<sku>:<n>`` (n-th row of that SKU
in the order), and the payload says ``line_ids = "weak"``; the backfill gives such lines the
real ids of an API version already in the log, and never lets a weak version overwrite one
(engine/pollers/orders_backfill.py). Rows of one order must be adjacent (they are in real files
[I] and in the simulator); a non-adjacent repeat is a ParseError rather than a half order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.adapters.amazon.order_report_model import ReportLine, ReportOrder, payload, quantity
from engine.adapters.amazon.reports import Document, open_text
from engine.errors import ParseError

__all__ = ["REQUIRED", "iter_flat_orders"]

REQUIRED = ("amazon-order-id", "last-updated-date", "order-status", "sku", "quantity")
MAX_ORDER_IDS = 5_000_000  # ids remembered to detect non-adjacent rows (~100 B each)


def _cells(line: str) -> list[str]:
    return line.rstrip("\r\n").split("\t")


def iter_flat_orders(
    doc: Document, region: str, marketplace_ids: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """Normalised payloads, one per order (its adjacent rows), in file order."""
    lines = open_text(doc, region=region)
    header_line = next(lines, None)
    if header_line is None:
        raise ParseError("amazon report: empty flat file")
    header = [h.strip().lower() for h in _cells(header_line.lstrip("\ufeff"))]
    col = {name: i for i, name in enumerate(header) if name}
    missing = [c for c in REQUIRED if c not in col]
    if missing:
        raise ParseError(f"amazon report: flat file lacks column(s) {', '.join(missing)}")

    def get(cells: list[str], name: str) -> str | None:
        i = col.get(name)
        return cells[i] if i is not None and i < len(cells) else None

    seen: set[str] = set()
    current: ReportOrder | None = None
    per_sku: dict[str, int] = {}
    for n, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        cells = _cells(line)
        oid = (get(cells, "amazon-order-id") or "").strip()
        if not oid:
            raise ParseError(f"amazon report: line {n}: no amazon-order-id")
        if current is None or oid != current.order_id:
            if current is not None and (body := _finish(current, region, marketplace_ids)):
                yield body
            if oid in seen:
                raise ParseError(f"amazon report: line {n}: rows of order {oid} not adjacent")
            if len(seen) < MAX_ORDER_IDS:
                seen.add(oid)
            current = ReportOrder(
                order_id=oid,
                purchase_date=get(cells, "purchase-date"),
                last_update=get(cells, "last-updated-date"),
                status=get(cells, "order-status"),
                fulfillment_channel=get(cells, "fulfillment-channel"),
                sales_channel=get(cells, "sales-channel"),
                currency=get(cells, "currency"),
                is_business_order=get(cells, "is-business-order"),
                purchase_order_number=get(cells, "purchase-order-number"),
            )
            per_sku = {}
        sku = (get(cells, "sku") or "").strip()
        per_sku[sku] = per_sku.get(sku, 0) + 1
        current.lines.append(
            ReportLine(
                order_item_id=f"flat:{sku}:{per_sku[sku]}",
                sku=sku or None,
                asin=get(cells, "asin"),
                quantity=quantity(get(cells, "quantity")),
                item_price=get(cells, "item-price"),
                item_tax=get(cells, "item-tax"),
                shipping_price=get(cells, "shipping-price"),
                shipping_tax=get(cells, "shipping-tax"),
                gift_wrap_price=get(cells, "gift-wrap-price"),
                gift_wrap_tax=get(cells, "gift-wrap-tax"),
                promotion_discount=get(cells, "item-promotion-discount"),
                shipping_discount=get(cells, "ship-promotion-discount"),
                tax_model=get(cells, "tax-collection-model"),
            )
        )
    if current is not None and (body := _finish(current, region, marketplace_ids)) is not None:
        yield body


def _finish(order: ReportOrder, region: str, mps: tuple[str, ...]) -> dict[str, Any] | None:
    body = payload(order, region, mps)
    if body is not None:
        body["line_ids"] = "weak"
    return body
