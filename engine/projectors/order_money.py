"""The QAD lines of one Amazon order: every money component, each line exact to the cent.

Pure (no I/O): ``plan(order, rules)`` -> the planned QAD lines, each with a stable ``key`` so
that a later version of the order maps onto the lines already posted.

Rules (README "Order money"):
- Item line total = Amazon's ItemPrice - PromotionDiscount (the item promotion is netted into
  the line it discounts: QAD's line is what the buyer paid for those units). Discount
  treatment ``list``: the line's list price is the undiscounted unit price (ItemPrice /
  quantity, 4 decimals: QAD keeps list prices to 4 decimals [I]) and its net price the
  discounted one, so QAD shows the discount; the extended amount is still from the net price.
  The shipping line likewise (list = ShippingPrice, net = ShippingPrice - ShippingDiscount).
- Exact amounts: QAD's extended amount is quantity x net price rounded to the currency's
  decimals ([I]: QAD rounds the extended amount of a line to the currency's rounding). A line
  total T of q units whose cents are not divisible by q is split: ``q - r`` units at
  ``floor(T / q)`` and ``r`` units at one cent (one currency unit) more, r = T mod q in cents.
  Both prices are whole cents, so each line's extended amount is exact without any rounding
  and the two sum to T: no cent lost or invented.
- Charges, one line each per order on the configured non-inventory items, quantity 1, only
  when not zero: shipping (ShippingPrice - ShippingDiscount), gift wrap, and tax by
  ``tax_mode`` (ItemTax + ShippingTax + GiftWrapTax - PromotionDiscountTax -
  ShippingDiscountTax of the lines whose tax the seller collects). Marketplace-facilitator tax
  (Amazon collects and remits) is not booked by default ("memo": reported in ``memo``).
- A price not known yet (Pending) plans the item lines at ``None`` and no charges; they are
  added when the prices arrive.
- A negative line or charge (a discount larger than what it discounts) cannot be a QAD sales
  order line at a non-negative price: ``MoneyError`` (the projector parks the order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = ["MoneyError", "MoneyRules", "Planned", "plan", "split_exact"]

FACILITATOR = "MARKETPLACE_FACILITATOR"
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "CLP", "HUF"})  # [I] currencies without cents


class MoneyError(ValueError):
    """The order's money cannot be posted as QAD lines (the reason is the message)."""


@dataclass(frozen=True, slots=True)
class MoneyRules:
    shipping_item: str = "AMZ-SHIP"
    gift_wrap_item: str = "AMZ-GIFT"
    tax_item: str = "AMZ-TAX"
    tax_mode: str = "line"  # line | none
    facilitator_tax: str = "memo"  # memo | book
    facilitator_tax_book: tuple[str, ...] = ()  # marketplace ids booked whatever the default
    replacement_orders: str = "zero"  # zero | skip
    discount_treatment: str = "net"  # net | list

    @classmethod
    def of(cls, cfg: Any) -> MoneyRules:
        """From ``[orders]`` (engine.config.model.OrdersConfig): the keys of the same names."""
        return cls(**{k: getattr(cfg, k) for k in cls.__dataclass_fields__})

    def books_facilitator_tax(self, marketplace_id: str) -> bool:
        return self.facilitator_tax == "book" or marketplace_id in self.facilitator_tax_book


@dataclass(frozen=True, slots=True)
class Planned:
    """One QAD line: ``key`` is stable across versions of the order; ``sku`` is None for
    charge lines (``item`` is then the charge item); ``price`` None = not known yet."""

    key: str
    sku: str | None
    item: str
    quantity: int
    price: Decimal | None
    # The undiscounted unit price (discount treatment "list" and a discount only), else None.
    list_price: Decimal | None = None

    @property
    def extended(self) -> Decimal:
        return Decimal(0) if self.price is None else self.price * self.quantity


LIST_PRICE_QUANTUM = Decimal("0.0001")


def quantum(currency: str | None) -> Decimal:
    return Decimal(1) if (currency or "").upper() in _ZERO_DECIMAL else Decimal("0.01")


def split_exact(total: Decimal, qty: int, q: Decimal) -> list[tuple[int, Decimal]]:
    """(quantity, unit price) pairs, at most two, whose extended amounts sum to ``total``
    exactly; the unit prices are multiples of ``q`` differing by one ``q``."""
    if qty <= 0:
        raise MoneyError("quantity must be positive")
    units = total / q
    if units != units.to_integral_value():
        raise MoneyError(f"amount {total} has more decimals than the currency")
    base = (total / qty).quantize(q, rounding=ROUND_FLOOR)
    rest = int((total - base * qty) / q)  # 0 <= rest < qty
    out = [(qty - rest, base)]
    if rest:
        out.append((rest, base + q))
    return out


def _d(line: Mapping[str, Any], key: str) -> Decimal | None:
    value = line.get(key)
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{key} {value!r} is not an amount") from None
    if not amount.is_finite():
        raise MoneyError(f"{key} {value!r} is not an amount")
    return amount


def _z(line: Mapping[str, Any], key: str) -> Decimal:
    return _d(line, key) or Decimal(0)


def _qty(line: Mapping[str, Any]) -> int:
    try:
        return int(line.get("quantity") or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def line_tax(line: Mapping[str, Any]) -> Decimal:
    """All tax of one Amazon line, net of the tax on its discounts."""
    return (
        _z(line, "item_tax")
        + _z(line, "shipping_tax")
        + _z(line, "gift_wrap_tax")
        - _z(line, "promotion_discount_tax")
        - _z(line, "shipping_discount_tax")
    )


def _lines(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = order.get("lines")
    dicts = [ln for ln in raw if isinstance(ln, dict)] if isinstance(raw, list) else []
    return sorted(dicts, key=lambda ln: str(ln.get("order_item_id")))


def plan(
    order: Mapping[str, Any], rules: MoneyRules, item_for: Mapping[str, str]
) -> tuple[list[Planned], dict[str, str]]:
    """(QAD lines in posting order, memo of amounts kept visible but not booked)."""
    q = quantum(order.get("currency"))
    out: list[Planned] = []
    priced = False
    shipping = shipping_gross = gift = tax = memo_tax = Decimal(0)
    book_mf = rules.books_facilitator_tax(str(order.get("marketplace_id") or ""))
    for ln in _lines(order):
        qty = _qty(ln)
        if qty <= 0:
            continue
        sku = str(ln.get("sku"))
        item = item_for.get(sku)
        if not item:
            raise MoneyError(f"unmapped SKU {sku}")
        key = str(ln.get("order_item_id"))
        gross = _d(ln, "item_price")
        if gross is None and (unit := _d(ln, "unit_price")) is not None:
            gross = unit * qty  # a payload with a unit price only: the line total it implies
        if gross is None:
            out.append(Planned(key, sku, item, qty, None))
            continue
        priced = True
        discount = _z(ln, "promotion_discount")
        total = gross - discount
        if total < 0:
            raise MoneyError(f"line {key}: promotion discount exceeds the item price")
        listed = None
        if rules.discount_treatment == "list" and discount:
            listed = (gross / qty).quantize(LIST_PRICE_QUANTUM, rounding=ROUND_HALF_UP)
        for n, (units, price) in enumerate(split_exact(total, qty, q)):
            shown = listed if listed is not None and listed > price else None  # a discount
            out.append(Planned(key if n == 0 else f"{key}+", sku, item, units, price, shown))
        shipping += _z(ln, "shipping_price") - _z(ln, "shipping_discount")
        shipping_gross += _z(ln, "shipping_price")
        gift += _z(ln, "gift_wrap_price")
        if ln.get("tax_model") == FACILITATOR and not book_mf:
            memo_tax += line_tax(ln)
        else:
            tax += line_tax(ln)
    memo: dict[str, str] = {}
    if not priced:
        return out, memo
    if memo_tax:
        memo["facilitator_tax"] = str(memo_tax)
    if rules.tax_mode == "none" and tax:
        memo["seller_tax_not_posted"] = str(tax)
    charges = [
        ("shipping", rules.shipping_item, shipping),
        ("gift_wrap", rules.gift_wrap_item, gift),
    ]
    if rules.tax_mode == "line":
        charges.append(("tax", rules.tax_item, tax))
    for key, item, amount in charges:
        if amount < 0:
            raise MoneyError(f"the order's {key} is negative ({amount})")
        listed = None
        if key == "shipping" and rules.discount_treatment == "list" and shipping_gross != amount:
            listed = shipping_gross
        if amount:
            out.append(Planned(f"@{key}", None, item, 1, amount, listed))
    return out, memo
