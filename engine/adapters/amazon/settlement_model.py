"""Settlement report shapes: required columns, the row payload keys, errors and results.

Split from ``settlement`` (the streaming reader) so the reader stays one responsibility.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.errors import ParseError

__all__ = [
    "REQUIRED",
    "TEXT_COLS",
    "ParsedSettlement",
    "SettlementError",
    "SettlementSummary",
    "row_builder",
]

REQUIRED = (
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "total-amount",
    "currency",
    "transaction-type",
    "amount-type",
    "amount-description",
    "amount",
)

# (payload name, header name) of the text columns copied into each row.
TEXT_COLS = (
    ("transaction_type", "transaction-type"),
    ("order_id", "order-id"),
    ("merchant_order_id", "merchant-order-id"),
    ("adjustment_id", "adjustment-id"),
    ("shipment_id", "shipment-id"),
    ("marketplace_name", "marketplace-name"),
    ("amount_type", "amount-type"),
    ("amount_description", "amount-description"),
    ("fulfillment_id", "fulfillment-id"),
    ("order_item_code", "order-item-code"),
    ("sku", "sku"),
    ("promotion_id", "promotion-id"),
)


class SettlementError(ParseError):
    """A settlement cannot be applied; ``reason_code``: "parse_error" or "unreconciled"."""

    def __init__(self, message: str, reason_code: str = "parse_error") -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.settlement_id: str | None = None  # from the summary row, when it was read


@dataclass(frozen=True, slots=True)
class SettlementSummary:
    """The summary row."""

    settlement_id: str
    start: datetime
    end: datetime
    deposit_date: datetime | None
    total_amount: Decimal
    currency: str


@dataclass(slots=True)
class ParsedSettlement:
    """A parsed, reconciled settlement."""

    summary: SettlementSummary
    locale: str
    row_count: int
    detail_sum: Decimal
    rows: list[dict[str, Any]] = field(default_factory=list)


Builder = Callable[[list[str], str, str | None, int | None], dict[str, Any]]


def row_builder(cols: tuple[tuple[str, int], ...]) -> Builder:
    """A function building one row dict from split cells: a dict display is ~2x ``dict(zip())``.

    Generated like ``collections.namedtuple`` does; only our own key names (``TEXT_COLS``) and
    integer indices reach the source, never header text.
    """
    keys = {k for k, _ in TEXT_COLS}
    assert all(k in keys and isinstance(i, int) for k, i in cols)
    items = "".join(f"{k!r}: c[{int(i)}], " for k, i in cols)
    src = f"lambda c, a, p, q: {{{items}'amount': a, 'posted_date': p, 'quantity': q}}"
    fn: Builder = eval(src, {"__builtins__": {}})  # noqa: S307 - constant keys, int indices
    return fn
