"""Typed QAD requests and results. Money and quantities are Decimal; dates are ``date``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine.errors import DataError

__all__ = [
    "INVOICE_TYPES",
    "CustomerInvoice",
    "InventoryAdjustment",
    "InventoryBalance",
    "InvoiceLine",
    "Item",
    "JournalEntry",
    "JournalLine",
    "LineChange",
    "PostResult",
    "SalesOrder",
    "SalesOrderLine",
    "SalesOrderUpdate",
    "ShipTo",
    "discount_percent",
]


# CustomerInvoice.kind -> the DInvoiceType value QAD Financials gives it ([I]: the type names
# of QAD EE's customer invoice and credit note; not published for Adaptive REST).
INVOICE_TYPES = {"invoice": "INVOICE", "credit_note": "CREDITNOTE"}


def _money(value: Decimal, what: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise DataError(f"{what} must be a finite Decimal, got {value!r}")


def _ref(value: str, what: str = "reference") -> None:
    # The browse filter grammar is comma-separated, so a comma would break look-ups.
    if not value or "," in value or len(value) > 80:
        raise DataError(f"{what} {value!r} must be 1-80 characters without commas")


DISCOUNT_QUANTUM = Decimal("0.0001")


def discount_percent(list_price: Any, net_price: Any) -> Decimal:
    """QAD's line discount % for a list and a net price; 0 without a list price or when the net
    is not below it. Four decimals [I: QAD's discount field takes decimals]: list x (1 - % /
    100) then gives the net back to within half a cent for list prices up to 10,000."""
    if list_price is None or net_price is None:
        return Decimal(0)
    lst, net = Decimal(str(list_price or 0)), Decimal(str(net_price or 0))
    if lst <= 0 or net >= lst:
        return Decimal(0)
    return ((lst - net) * 100 / lst).quantize(DISCOUNT_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class SalesOrderLine:
    item: str
    quantity: Decimal
    price: Decimal
    site: str = ""  # "" = the order's site
    line: int = 0  # 0 = position in the order (1-based)
    list_price: Decimal | None = None  # None = the net price (no discount shown on the line)

    def __post_init__(self) -> None:
        _money(self.quantity, "quantity")
        _money(self.price, "price")
        if self.list_price is not None:
            _money(self.list_price, "list_price")


@dataclass(frozen=True, slots=True, repr=False)
class ShipTo:
    """The buyer's delivery address of a merchant-fulfilled order: buyer PII.

    Decrypted right before the post and never stored, logged or shown (repr hides it).
    """

    name: str
    address_lines: tuple[str, ...] = ()
    city: str = ""
    state_or_region: str = ""
    postal_code: str = ""
    country_code: str = ""

    def __repr__(self) -> str:
        return "ShipTo(<buyer address>)"

    def record(self) -> dict[str, Any]:
        """The QAD JSON of the address (the value of ``[qad.fields] so_ship_to_address``)."""
        return {
            "name": self.name,
            "addressLines": list(self.address_lines),
            "city": self.city,
            "stateOrRegion": self.state_or_region,
            "postalCode": self.postal_code,
            "countryCode": self.country_code,
        }


def _ship_to_fields(ship_to: ShipTo | None, field_name: str) -> dict[str, Any]:
    # The address field is a guess on public evidence: a tenant profile may name none ("").
    return {} if ship_to is None or not field_name else {field_name: ship_to.record()}


@dataclass(frozen=True, slots=True)
class SalesOrder:
    """A sales order; ``reference`` (the Amazon order id) goes to the customer PO (so_po).

    ``ship_to`` is the delivery address of a merchant-fulfilled order (None: the customer's).
    ``after_unknown_outcome``: an earlier attempt may already have posted it (the dispatcher's
    ``uncertain``), so only a proven look-up may decide that it is absent. ``known_unsent``:
    the outbox proves it was never sent, so the look-up before the create is skipped.
    """

    reference: str
    customer: str
    order_date: date
    lines: tuple[SalesOrderLine, ...]
    currency: str = "USD"
    site: str = "10-100"
    due_date: date | None = None
    number: str = ""  # deterministic so_nbr, or "" to let QAD number it
    ship_to: ShipTo | None = field(default=None, repr=False)
    after_unknown_outcome: bool = field(default=False, compare=False)
    # The engine's outbox proves no earlier attempt sent this reference (engine.dispatch):
    # create without the look-up before (a look-up still settles any unknown outcome).
    known_unsent: bool = field(default=False, compare=False)
    remarks: str = ""  # business PO / VAT id (``business_remarks``); sent only if configured

    def __post_init__(self) -> None:
        _ref(self.reference)

    def ship_to_fields(self, field_name: str) -> dict[str, Any]:
        """Header fields for the delivery address: ``{field_name: {...}}`` or ``{}``."""
        return _ship_to_fields(self.ship_to, field_name)


@dataclass(frozen=True, slots=True)
class LineChange:
    line: int
    quantity: Decimal | None = None
    price: Decimal | None = None
    list_price: Decimal | None = None  # None = the new net price (with a price change)


@dataclass(frozen=True, slots=True)
class SalesOrderUpdate:
    """Quantity/price changes on existing lines and/or cancellation of the whole order; a
    delivery address that arrived after the order was created (Pending first) in ``ship_to``."""

    reference: str
    lines: tuple[LineChange, ...] = ()
    cancel: bool = False
    ship_to: ShipTo | None = field(default=None, repr=False)
    # Lines to add (``line`` = position in the order): a split or charge line known only once
    # the prices arrived. Added only past the lines QAD holds, so a retry adds nothing twice.
    add: tuple[SalesOrderLine, ...] = ()

    def __post_init__(self) -> None:
        _ref(self.reference)

    def ship_to_fields(self, field_name: str) -> dict[str, Any]:
        """Header fields for the delivery address: ``{field_name: {...}}`` or ``{}``."""
        return _ship_to_fields(self.ship_to, field_name)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    account: str
    amount: Decimal
    description: str = ""
    sub_account: str = ""
    cost_center: str = ""

    def __post_init__(self) -> None:
        _money(self.amount, "invoice line amount")


@dataclass(frozen=True, slots=True)
class CustomerInvoice:
    reference: str
    customer: str
    invoice_date: date
    amount: Decimal
    lines: tuple[InvoiceLine, ...]
    currency: str = "USD"
    posting_date: date | None = None  # None = invoice_date
    due_date: date | None = None
    daybook: str = "SALES"
    description: str = ""
    # "invoice", or "credit_note" (a negative settlement: amount and lines stay positive).
    kind: str = "invoice"
    after_unknown_outcome: bool = field(default=False, compare=False)
    # The engine's outbox proves no earlier attempt sent this reference (engine.dispatch):
    # create without the look-up before (a look-up still settles any unknown outcome).
    known_unsent: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        _ref(self.reference)
        _money(self.amount, "invoice amount")
        if self.kind not in INVOICE_TYPES:
            raise DataError(f"invoice kind {self.kind!r} must be one of {sorted(INVOICE_TYPES)}")


@dataclass(frozen=True, slots=True)
class JournalLine:
    account: str
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    description: str = ""
    currency: str | None = None  # None = the entry's currency
    sub_account: str = ""
    cost_center: str = ""

    def __post_init__(self) -> None:
        _money(self.debit, "debit")
        _money(self.credit, "credit")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    reference: str
    posting_date: date
    lines: tuple[JournalLine, ...]
    currency: str = "USD"
    daybook: str = "JE"
    description: str = ""
    after_unknown_outcome: bool = field(default=False, compare=False)
    # The engine's outbox proves no earlier attempt sent this reference (engine.dispatch):
    # create without the look-up before (a look-up still settles any unknown outcome).
    known_unsent: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        _ref(self.reference)


@dataclass(frozen=True, slots=True)
class InventoryAdjustment:
    """Unplanned receipt (quantity > 0, RCT-UNP) or issue (quantity < 0, ISS-UNP).

    ``effective_date`` is kept for the record but not sent: the public init tree has no
    effective-date field, so QAD applies the day it commits.
    """

    reference: str
    item: str
    site: str
    quantity: Decimal
    effective_date: date
    location: str = "010"
    remarks: str = ""
    after_unknown_outcome: bool = field(default=False, compare=False)
    # The engine's outbox proves no earlier attempt sent this reference (engine.dispatch):
    # create without the look-up before (a look-up still settles any unknown outcome).
    known_unsent: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        _ref(self.reference)
        _money(self.quantity, "quantity")
        if self.quantity == 0:
            raise DataError("an inventory adjustment needs a non-zero quantity")


@dataclass(frozen=True, slots=True)
class PostResult:
    """``document`` is QAD's number (so_nbr, invoice number, voucher, tr_trnbr).

    ``created`` is False when QAD already held the same document (idempotent success) or the
    update was already applied.
    """

    document: str
    created: bool
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    description: str
    unit_of_measure: str
    list_price: Decimal | None
    status: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class InventoryBalance:
    """On-hand of an item at a site: the sum over its locations/lots (``locations`` rows)."""

    item: str
    site: str
    on_hand: Decimal
    locations: int = 0


REMARKS_WIDTH = 40  # so_mstr.so_rmks is x(40) [I]


def business_remarks(business: Any) -> str:
    """The remarks of an Amazon Business order: ``PO <number> VAT <id>``, within x(40).

    The VAT id is dropped first when both do not fit, then the PO number is cut; the whole
    values stay in the command body (``business``) and so in ``audit``."""
    if not isinstance(business, dict):
        return ""
    po = str(business.get("purchase_order_number") or "").strip()
    vat = str(business.get("buyer_vat_id") or "").strip()
    parts = [p for p in (f"PO {po}" if po else "", f"VAT {vat}" if vat else "") if p]
    text = " ".join(parts)
    if len(text) > REMARKS_WIDTH and po:
        text = f"PO {po}"
    return text[:REMARKS_WIDTH]
