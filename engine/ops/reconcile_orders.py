"""The order side of ``reconcile``: each settled order against its QAD sales order, and the
running reserve balance.

Per settlement, its rows are grouped by (transaction type, Amazon order id). For each group
the amount QAD's sales order should carry is what the buyer was charged as the order side
books it (engine/projectors/order_money.py, the same ``MoneyRules``): the ItemPrice and
Promotion rows (principal, shipping, gift wrap and their promotions), plus the tax rows
(ItemPrice/*Tax) when ``[orders] tax_mode = "line"``, less the ItemWithheldTax rows (the tax
Amazon collects as marketplace facilitator) unless that tax is booked for the marketplace.
Fees (ItemFees) are the seller's costs, not the buyer's charges, and are left out.

Status per group, in OCA's terms (wave-2 anchors §5.1: matched / variance / no_invoice):
- an Order group: ``matched`` when the QAD sales order total (Σ quantity x net price, rounded
  to the currency like QAD [I]) equals the settled amount, ``variance`` (with the difference)
  when not, ``no_invoice`` when QAD has no sales order for the Amazon order id;
- a refund group (Refund, Chargeback Refund, A-to-z Guarantee Refund): Amazon refunds part or
  all of an order, so ``matched`` when the refunded amount is at most the QAD order total,
  ``variance`` by how much it exceeds it, ``no_invoice`` when QAD has no such order [I].
A group whose settled amount is zero with no QAD order (a replacement order skipped by
``replacement_orders = "skip"``) is ``matched``: there is nothing to invoice.

Reserve: the rows whose line type maps to the reserve account class (Current Reserve Amount,
negative, held; Previous Reserve Amount Balance, positive, released), per currency in
settlement date order; the running balance should trend back to zero (§5.3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from engine.projectors.mapping import Mapper
from engine.projectors.order_money import MoneyRules, quantum

__all__ = [
    "MATCHED",
    "NO_INVOICE",
    "VARIANCE",
    "OrderCheck",
    "RowDigest",
    "qad_order_total",
]

ZERO = Decimal(0)
MATCHED, VARIANCE, NO_INVOICE = "matched", "variance", "no_invoice"
REFUND_TYPES = frozenset({"refund", "chargeback refund", "a-to-z guarantee refund"})


@dataclass(slots=True)
class OrderCheck:
    """One Order or refund row group of a settlement against the QAD sales order."""

    settlement_id: str
    kind: str  # "order" | "refund"
    transaction_type: str
    order_id: str
    currency: str
    settled: Decimal  # the amount QAD's order should carry (refund: the amount refunded)
    qad_document: str = ""
    qad_total: Decimal | None = None
    status: str = NO_INVOICE

    @property
    def variance(self) -> Decimal:
        if self.qad_total is None:
            return self.settled
        if self.kind == "refund":
            return max(ZERO, self.settled - self.qad_total)
        return self.settled - self.qad_total

    def judge(self, found: Mapping[str, Any] | None) -> None:
        """Compare with the QAD sales order look-up (None: QAD has no such order)."""
        if found is None:
            self.status = MATCHED if self.settled == ZERO else NO_INVOICE
            return
        self.qad_document = str(found.get("document") or "")
        self.qad_total = qad_order_total(found.get("lines") or (), self.currency)
        self.status = MATCHED if self.variance == ZERO else VARIANCE


def qad_order_total(lines: Iterable[Mapping[str, Any]], currency: str) -> Decimal:
    """Σ extended amounts of QAD's lines (quantity x net price, rounded half up to the
    currency's decimals, as the QAD simulator does [I])."""
    q = quantum(currency)
    total = ZERO
    for ln in lines:
        try:
            qty, price = Decimal(str(ln.get("quantity") or 0)), Decimal(str(ln.get("price") or 0))
        except (InvalidOperation, ValueError):
            continue
        total += (qty * price).quantize(q, rounding=ROUND_HALF_UP)
    return total


@dataclass(slots=True)
class _Group:
    transaction_type: str
    marketplace: str = ""
    charges: Decimal = ZERO  # ItemPrice (not tax) + Promotion
    tax: Decimal = ZERO  # ItemPrice/*Tax
    withheld: Decimal = ZERO  # ItemWithheldTax (negative: Amazon keeps it)


@dataclass(slots=True)
class RowDigest:
    """What ``reconcile`` needs from a settlement's rows, folded one row at a time (a chunked
    settlement's rows arrive in several events)."""

    groups: dict[tuple[str, str], _Group] = field(default_factory=dict)
    reserve_held: Decimal = ZERO  # positive: what Amazon held back in this settlement
    reserve_released: Decimal = ZERO  # positive: what it released from earlier ones
    names: dict[str, int] = field(default_factory=dict)

    def add(self, rows: Iterable[Any], mapper: Mapper) -> None:
        reserve_account = mapper.class_account("reserve")
        for r in rows:
            if not isinstance(r, dict):
                continue
            try:
                amount = Decimal(str(r.get("amount") or 0))
            except (InvalidOperation, ValueError):
                continue  # the projector parks such a settlement; nothing to compare
            tt = str(r.get("transaction_type") or "")
            at = str(r.get("amount_type") or "")
            ad = str(r.get("amount_description") or "")
            name = str(r.get("marketplace_name") or "")
            if name:
                self.names[name] = self.names.get(name, 0) + 1
            hit = mapper.rule_for(tt, at, ad)
            if hit is not None and (hit[1] == "reserve" or hit[0] == reserve_account):
                if amount < 0:
                    self.reserve_held -= amount
                else:
                    self.reserve_released += amount
            oid = str(r.get("order_id") or "")
            kind = "refund" if tt.lower() in REFUND_TYPES else "order" if tt == "Order" else ""
            if not oid or not kind or at not in ("ItemPrice", "Promotion", "ItemWithheldTax"):
                continue
            g = self.groups.setdefault((tt, oid), _Group(tt, name))
            if at == "ItemWithheldTax":
                g.withheld += amount
            elif at == "ItemPrice" and ad.lower().endswith("tax"):
                g.tax += amount
            else:
                g.charges += amount

    def order_checks(
        self, sid: str, currency: str, rules: MoneyRules, mapper: Mapper
    ) -> list[OrderCheck]:
        """One check per row group, with the amount the order side books for it."""
        by_name = {m.name.lower(): mid for mid, m in mapper.cfg.marketplaces.items() if m.name}
        out = []
        for (tt, oid), g in sorted(self.groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if rules.tax_mode != "line":
                tax = ZERO
            elif g.withheld and not rules.books_facilitator_tax(
                by_name.get(g.marketplace.lower(), "")
            ):
                tax = g.tax + g.withheld  # Amazon collects it: not on the QAD order (memo)
            else:
                tax = g.tax
            amount = g.charges + tax
            kind = "order" if tt == "Order" else "refund"
            settled = amount if kind == "order" else -amount
            out.append(OrderCheck(sid, kind, tt, oid, currency, settled))
        return out
