"""Flat-file report documents: settlement V2 (per locale), merchant listings, all-orders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from engine.sim.amazon.settlements import SimSettlement

__all__ = ["LOCALES", "SETTLEMENT_COLUMNS", "Locale", "format_amount", "settlement_file", "tsv"]

SETTLEMENT_COLUMNS = (
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "deposit-date",
    "total-amount",
    "currency",
    "transaction-type",
    "order-id",
    "merchant-order-id",
    "adjustment-id",
    "shipment-id",
    "marketplace-name",
    "amount-type",
    "amount-description",
    "amount",
    "fulfillment-id",
    "posted-date",
    "posted-date-time",
    "order-item-code",
    "merchant-order-item-id",
    "merchant-adjustment-item-id",
    "sku",
    "quantity-purchased",
    "promotion-id",
)


@dataclass(frozen=True, slots=True)
class Locale:
    code: str
    thousands: str
    decimal: str
    header_date: str  # strftime for settlement-start/end/deposit dates
    posted_date: str  # strftime for posted-date
    charset: str  # as written in the download's Content-Type (a Python codec name too)


LOCALES = {
    "US": Locale("US", ",", ".", "%Y-%m-%d %H:%M:%S UTC", "%m/%d/%y", "UTF-8"),
    "UK": Locale("UK", ",", ".", "%d/%m/%Y %H:%M:%S UTC", "%d/%m/%Y", "Cp1252"),
    # NA header dates are ISO [C]; the short posted-date day-first [C by analogy] (CA, MX).
    "CA": Locale("CA", ",", ".", "%Y-%m-%d %H:%M:%S UTC", "%d/%m/%y", "UTF-8"),
    # FR/IT/ES style: decimal comma [D], slashed day-first dates [C by analogy].
    "EU": Locale("EU", ".", ",", "%d/%m/%Y %H:%M:%S UTC", "%d/%m/%Y", "Cp1252"),
    "DE": Locale("DE", ".", ",", "%d.%m.%Y %H:%M:%S UTC", "%d.%m.%Y", "Cp1252"),
    "JP": Locale("JP", ",", ".", "%Y/%m/%d %H:%M:%S UTC", "%Y/%m/%d", "cp932"),
}


def format_amount(value: Decimal, loc: Locale) -> str:
    text = f"{value:,}"  # Decimal keeps its own exponent: 2 places, or 0 for JPY
    return text.replace(",", "\0").replace(".", loc.decimal).replace("\0", loc.thousands)


def _d(t: float, fmt: str) -> str:
    return datetime.fromtimestamp(t, UTC).strftime(fmt)


def tsv(rows: Iterable[Iterable[str]]) -> str:
    return "".join("\t".join(r) + "\r\n" for r in rows)


def settlement_file(st: SimSettlement) -> tuple[bytes, str]:
    """The V2 flat file (24 columns) encoded for its locale; returns (bytes, charset)."""
    loc = LOCALES[st.locale]
    summary = [
        st.settlement_id,
        _d(st.start, loc.header_date),
        _d(st.end, loc.header_date),
        _d(st.deposit, loc.header_date),
        format_amount(st.total, loc),
        st.currency,
    ]
    lines = [list(SETTLEMENT_COLUMNS), summary + [""] * (len(SETTLEMENT_COLUMNS) - len(summary))]
    for r in st.rows:
        lines.append(
            [
                st.settlement_id,
                "",
                "",
                "",
                "",
                "",
                r.transaction_type,
                r.order_id,
                "",
                r.adjustment_id,
                r.shipment_id,
                r.marketplace_name,
                r.amount_type,
                r.amount_description,
                format_amount(r.amount, loc),
                r.fulfillment_id,
                _d(r.posted, loc.posted_date),
                _d(r.posted, "%Y-%m-%d %H:%M:%S UTC"),
                r.order_item_code,
                "",
                "",
                r.sku,
                r.quantity,
                r.promotion_id,
            ]
        )
    return tsv(lines).encode(loc.charset), loc.charset
