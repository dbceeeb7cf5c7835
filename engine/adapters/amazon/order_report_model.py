"""One order of an All Orders report -> the normalised ``OrderFetched`` payload of the API path.

Both report formats (``order_report_xml``, ``order_report_flat``) collect an order's fields and
lines into ``ReportOrder`` / ``ReportLine`` and call ``payload``, so the projector sees the same
shape as ``engine.adapters.amazon.orders.normalise_v2026`` gives (same keys, same money
normalisation ``str(Decimal(amount))``, lines sorted by order item id), plus two markers:

- ``origin = "report"``: where the version came from (the API's payloads carry no ``origin``);
- ``prices = "absent"`` when the report carried no item price (Pending orders [D reference
  §1.1: "For MFN orders still Pending, item price is not shown"]): the money fields are None,
  which the projector reads as "no price yet", never as 0.

What the report does not carry is None, never invented [D §1.5]: ``order_total``,
``buyer_vat_id``, ``quantity_shipped``, ``replaced_order_id``; ``is_replacement_order`` None
(the report has no such column); the ship-to is added by the backfill through the API path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.adapters.amazon.client import iso_z

# The API path's unit price rounding, so equal line totals give equal unit prices.
from engine.adapters.amazon.orders import _unit as normalise_unit_price
from engine.errors import ParseError

__all__ = [
    "SALES_CHANNELS",
    "ReportLine",
    "ReportOrder",
    "marketplace_of",
    "money",
    "payload",
    "quantity",
    "timestamp",
]

# SalesChannel / sales-channel (the marketplace's site name) -> marketplace id [D SP-API
# marketplace id table: site names amazon.com, amazon.ca, ...]; compared case-insensitively.
SALES_CHANNELS: dict[str, str] = {
    "amazon.com": "ATVPDKIKX0DER",
    "amazon.ca": "A2EUQ1WTGCTBG2",
    "amazon.com.mx": "A1AM78C64UM0Y8",
    "amazon.com.br": "A2Q3Y263D00KWC",
    "amazon.co.uk": "A1F83G8C2ARO7P",
    "amazon.de": "A1PA6795UKMFR9",
    "amazon.fr": "A13V1IB3VIYZZH",
    "amazon.it": "APJ6JRA9NG5V4",
    "amazon.es": "A1RKKUPIHCS9HS",
    "amazon.nl": "A1805IZSGTT6HS",
    "amazon.se": "A2NODRKZP88ZB9",
    "amazon.pl": "A1C3SOZRARQ6R3",
    "amazon.com.be": "AMEN7PMS3EDWL",
    "amazon.com.tr": "A33AVAJ2PDY3EV",
    "amazon.ae": "A2VIGQ35RCS4UG",
    "amazon.sa": "A17E79C6D8DWNP",
    "amazon.eg": "ARBP9OOSHTCHU",
    "amazon.in": "A21TJRUUN4KGV",
    "amazon.co.jp": "A1VC38T7YXB528",
    "amazon.com.au": "A39IBJ37TRP1C6",
    "amazon.sg": "A19VAU5U5O7RUS",
}
# Report status words -> the API's (v0) words the projector knows. "Cancelled" is the report's
# spelling [I from public files], the API says "Canceled"; "Shipping" [G] is an order in transit
# to being shipped, i.e. still to ship.
_STATUS = {"cancelled": "Canceled", "canceled": "Canceled", "shipping": "Unshipped"}
_CHANNEL = {"amazon": "AFN", "afn": "AFN", "merchant": "MFN", "mfn": "MFN"}


@dataclass(slots=True)
class ReportLine:
    """One item line; money as text the way the report wrote it ("" / None = absent)."""

    order_item_id: str | None
    sku: str | None
    asin: str | None
    quantity: int
    item_price: str | None = None
    item_tax: str | None = None
    shipping_price: str | None = None
    shipping_tax: str | None = None
    gift_wrap_price: str | None = None
    gift_wrap_tax: str | None = None
    promotion_discount: str | None = None
    shipping_discount: str | None = None
    tax_model: str | None = None  # e.g. "MarketplaceFacilitator" when the report gives it


@dataclass(slots=True)
class ReportOrder:
    order_id: str
    purchase_date: str | None = None
    last_update: str | None = None
    status: str | None = None
    fulfillment_channel: str | None = None
    sales_channel: str | None = None
    currency: str | None = None
    is_business_order: str | None = None
    purchase_order_number: str | None = None
    lines: list[ReportLine] = field(default_factory=list)


def money(text: str | None, *, discount: bool = False) -> str | None:
    """A report amount as the API path normalises it; a discount is positive whatever its sign
    in the report (the XML writes promotions negative [C], the flat file varies [U])."""
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ParseError(f"amazon report: bad money amount {text[:40]!r}") from None
    if not value.is_finite():
        raise ParseError(f"amazon report: bad money amount {text[:40]!r}")
    return str(abs(value) if discount else value)


def timestamp(text: str | None) -> str | None:
    """ISO-8601 with any offset -> UTC ``...Z``; the format is undocumented [I reference §1.2],
    so a date without offset is read as UTC [G] and a space separator is accepted."""
    if text is None or not text.strip():
        return None
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(f"amazon report: bad timestamp {text[:40]!r}") from None
    return iso_z(ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC))


def marketplace_of(sales_channel: str | None, requested: tuple[str, ...]) -> str | None:
    """The marketplace id of a sales channel; a report for one marketplace is that one."""
    mp = SALES_CHANNELS.get((sales_channel or "").strip().lower())
    if mp is not None:
        return mp
    return requested[0] if len(requested) == 1 else None


def payload(order: ReportOrder, region: str, requested: tuple[str, ...]) -> dict[str, Any] | None:
    """The normalised payload, or None for a row that is no Amazon marketplace order (e.g. a
    "Non-Amazon" multi-channel fulfilment order: the API path does not list those either)."""
    mp = marketplace_of(order.sales_channel, requested)
    if mp is None:
        return None
    lines = [_line(ln) for ln in order.lines]
    lines.sort(key=lambda ln: str(ln["order_item_id"]))
    priced = any(ln["item_price"] is not None for ln in lines)
    status = (order.status or "").strip()
    out: dict[str, Any] = {
        "order_id": order.order_id,
        "region": region,
        "marketplace_id": mp,
        "status": _STATUS.get(status.lower(), status) or None,
        "fulfillment": _CHANNEL.get((order.fulfillment_channel or "").strip().lower()),
        "purchase_date": timestamp(order.purchase_date),
        "last_update": timestamp(order.last_update),
        "currency": (order.currency or "").strip() or None,
        "order_total": None,
        "lines": lines,
        "is_business_order": (order.is_business_order or "").strip().lower() == "true",
        "purchase_order_number": (order.purchase_order_number or "").strip() or None,
        "buyer_vat_id": None,
        "is_replacement_order": None,  # unknown: not in the report [D §1.5] (order_keys.py)
        "replaced_order_id": None,
        "ship_to": None,
        "pii": "not_needed",
        "origin": "report",
    }
    if not priced:
        out["prices"] = "absent"
    return out


def _line(ln: ReportLine) -> dict[str, Any]:
    item_price = money(ln.item_price)
    model = (ln.tax_model or "").replace("_", "").strip().lower()
    return {
        "order_item_id": ln.order_item_id,
        "sku": ln.sku,
        "asin": ln.asin,
        "quantity": ln.quantity,
        "quantity_shipped": None,
        "unit_price": normalise_unit_price(item_price, ln.quantity),
        "item_price": item_price,
        "shipping_price": money(ln.shipping_price),
        "gift_wrap_price": money(ln.gift_wrap_price),
        "item_tax": money(ln.item_tax),
        "shipping_tax": money(ln.shipping_tax),
        "gift_wrap_tax": money(ln.gift_wrap_tax),
        "promotion_discount_tax": None,
        "shipping_discount_tax": None,
        "promotion_discount": money(ln.promotion_discount, discount=True),
        "shipping_discount": money(ln.shipping_discount, discount=True),
        # TaxCollection model "MarketplaceFacilitator": Amazon collects and remits [D ordersV0].
        "tax_model": "MARKETPLACE_FACILITATOR" if model == "marketplacefacilitator" else None,
    }


def quantity(text: str | None) -> int:
    try:
        return int((text or "0").strip() or "0")
    except ValueError:
        raise ParseError(f"amazon report: bad quantity {(text or '')[:20]!r}") from None
