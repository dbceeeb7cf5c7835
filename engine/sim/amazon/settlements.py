"""Settlements: every 14 days per (seller, region, currency), reconciling to orders/refunds/fees.

Order rows: every money component the Orders API shows for the order (engine/sim/amazon/data.py
draws them, with their shares): per line ItemPrice/Principal, Tax, Shipping, ShippingTax,
GiftWrap, GiftWrapTax and Promotion/Principal, Promotion/Shipping (negative), so an order's
ItemPrice + Promotion rows sum to what the order charged (``SimOrder.total()``); for a
marketplace-facilitator order (US) ItemWithheldTax rows give the tax back to Amazon
(MarketplaceFacilitatorTax-Principal / -Shipping / -Giftwrap, negative); then Commission 15 %
of the principal and, for FBA, FBAPerUnitFulfillmentFee 3.22 per unit. A refund returns the
first line's principal, tax and promotion (and withheld tax), keeps the commission less a
RefundCommission of 20 % of it (at most 5.00).

Besides orders, refunds and their fees, every line type of wave-2 anchors §5.2 is generated,
deterministically from the settlement's phase k = index + a per-(seller, region, currency)
offset (so even a short history shows several kinds) and the order id for disputes: the same seed
always yields the same books (the fault matrix compares QAD books between runs). Rates, with
``fx`` the currency's factor over USD:
- every settlement: Subscription Fee 39.99, Storage Fee 12.34, Cost of Advertising 25.00;
  Current Reserve Amount = 5 % of a positive balance, released next period as Previous
  Reserve Amount Balance;
- k % 7 == 5: the reserve holds the whole balance (a zero settlement: journal only);
- k % 7 == 3: an advertising spike that leaves the settlement negative by 40.00 (a credit note);
- k % 9 == 4: every order and refund of the period is deferred (DD+7) to the next settlement,
  so this one has no sales and names no marketplace ("Unknown Marketplace");
- k % 6 == 1: Amazon Lending advance of 500.00; k % 6 in 2..5: a repayment of 127.50
  (principal and interest combined, as Amazon reports them);
- k % 5 == 2: Payable to Amazon -30.00 with its Successful charge +30.00 (a card charge pair);
  k % 5 == 4: Payable to Amazon -18.00 with "Debt adjustment against another balance" +18.00;
- k % 3 == 1: Removal Fee 2.50 and Disposal Fee 1.10; k % 3 == 2: SAFE-T Reimbursement 22.00;
- k % 2 == 1: FBA Inventory Reimbursement 14.95 (WAREHOUSE_DAMAGE, _LOST, REVERSAL_REIMBURSEMENT
  rotating with k);
- refunds: 1 in 5 (by order id hash) is a Chargeback Refund, 1 in 5 an A-to-z Guarantee
  Refund, instead of a plain Refund (high, so that short histories show them).
Σ lines = total-amount always.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from engine.sim.amazon.data import DAY, FX, OrderBook, SimLine, SimOrder, money

__all__ = ["PERIOD", "SettlementRow", "Settlements", "SimSettlement"]

PERIOD = 14 * DAY
REPORT_DELAY = 6 * 3600.0  # Amazon publishes the report some hours after the period closes
# File layout per settlement currency (engine/sim/amazon/documents.py LOCALES), following the
# engine's marketplace defaults (engine/config/settlement_locales.py): CA/MX day-first.
_LOCALE = {"USD": "US", "CAD": "CA", "MXN": "CA", "EUR": "DE", "GBP": "UK", "JPY": "JP"}


@dataclass(frozen=True, slots=True)
class SettlementRow:
    transaction_type: str
    order_id: str
    adjustment_id: str
    shipment_id: str
    marketplace_name: str
    amount_type: str
    amount_description: str
    amount: Decimal
    fulfillment_id: str
    posted: float
    order_item_code: str
    sku: str
    quantity: str
    promotion_id: str = ""


@dataclass(slots=True)
class SimSettlement:
    settlement_id: str
    seller: str
    region: str
    currency: str
    index: int
    start: float
    end: float
    deposit: float
    locale: str
    marketplace_ids: tuple[str, ...]
    rows: list[SettlementRow] = field(default_factory=list)
    total: Decimal = Decimal(0)
    reserve: Decimal = Decimal(0)  # held this period (positive number)

    @property
    def report_time(self) -> float:
        return self.end + REPORT_DELAY


class Settlements:
    def __init__(self, book: OrderBook, anchor: float, locales: dict[str, str | None]) -> None:
        self.book = book
        self.anchor = anchor
        self.locales = locales  # seller -> fixed locale or None (by currency)
        self._cache: dict[tuple[str, str, str, int], SimSettlement] = {}

    def period(self, index: int) -> tuple[float, float]:
        start = self.anchor + index * PERIOD
        return start, start + PERIOD

    def closed(self, seller: str, region: str, currency: str, now: float) -> list[SimSettlement]:
        """Settlements whose report exists at ``now`` (the period closed and was published)."""
        out = []
        k = 0
        while self.period(k)[1] + REPORT_DELAY <= now:
            out.append(self.get(seller, region, currency, k))
            k += 1
        return out

    def open_balance(self, seller: str, region: str, currency: str, now: float) -> SimSettlement:
        k = max(0, int((now - self.anchor) // PERIOD))
        return self._build(seller, region, currency, k, until=now)

    def get(self, seller: str, region: str, currency: str, index: int) -> SimSettlement:
        key = (seller, region, currency, index)
        if key not in self._cache:
            self._cache[key] = self._build(seller, region, currency, index)
        return self._cache[key]

    def _build(
        self, seller: str, region: str, currency: str, k: int, until: float | None = None
    ) -> SimSettlement:
        start, end = self.period(k)
        stop = end if until is None else min(end, until)
        digest = hashlib.sha256(f"{self.book.seed}:{seller}:{region}:{currency}:{k}".encode())
        sid = str(10**10 + int(digest.hexdigest()[:12], 16) % (9 * 10**10))
        st = SimSettlement(
            settlement_id=sid,
            seller=seller,
            region=region,
            currency=currency,
            index=k,
            start=start,
            end=end,
            deposit=end + 3 * DAY,
            locale=self.locales.get(seller) or _LOCALE.get(currency, "US"),
            marketplace_ids=(),
        )
        mps: set[str] = set()
        # Deferred periods (DD+7): their orders settle with the next period's.
        phase = k + _offset(seller, region, currency)
        lo = self.period(k - 1)[0] if k > 0 and _deferred(phase - 1) else start
        hi = start if _deferred(phase) else stop
        for o in self.book.purchased_between(lo - OrderBook.MAX_LAG, hi):
            if o.seller != seller or o.currency != currency or o.marketplace.region != region:
                continue
            if o.shipped_at is not None and lo <= o.shipped_at < hi:
                st.rows.extend(_order_rows(o))
                mps.add(o.marketplace.marketplace_id)
            if o.refunded_at is not None and lo <= o.refunded_at < hi:
                st.rows.extend(_refund_rows(o))
                mps.add(o.marketplace.marketplace_id)
        st.marketplace_ids = tuple(sorted(mps))
        if until is None:
            st.rows.extend(self._period_rows(st))
        st.total = sum((r.amount for r in st.rows), Decimal(0))
        return st

    def _period_rows(self, st: SimSettlement) -> list[SettlementRow]:
        cur, fx = st.currency, FX[st.currency]
        posted = st.end - 3600
        rows = [
            _other(
                "other-transaction", "Subscription Fee", -money(Decimal("39.99") * fx, cur), posted
            ),
            _other("other-transaction", "Storage Fee", -money(Decimal("12.34") * fx, cur), posted),
            _other(
                "ServiceFee",
                "TransactionTotalAmount",
                -money(Decimal("25.00") * fx, cur),
                posted,
                amount_type="Cost of Advertising",
            ),
        ]
        if st.index > 0:
            prev = self.get(st.seller, st.region, st.currency, st.index - 1)
            if prev.reserve:
                rows.append(
                    _other(
                        "other-transaction",
                        "Previous Reserve Amount Balance",
                        prev.reserve,
                        st.start + 60,
                    )
                )
        phase = st.index + _offset(st.seller, st.region, st.currency)
        rows += _extra_rows(phase, cur, fx, st.start, posted)
        base = sum((r.amount for r in st.rows), Decimal(0)) + sum(
            (r.amount for r in rows), Decimal(0)
        )
        if phase % 7 == 3:
            # An advertising spike larger than the period's balance: a negative settlement.
            spike = base + money(Decimal("40.00") * fx, cur)
            if spike > 0:
                rows.append(_other("ServiceFee", "TransactionTotalAmount", -spike, posted,
                                   amount_type="Cost of Advertising"))  # fmt: skip
                base -= spike
        if base > 0:
            # Usually 5 % held; every 7th settlement holds all of it (a zero payout).
            rate = Decimal(1) if phase % 7 == 5 else Decimal("0.05")
            st.reserve = money(base * rate, cur)
            rows.append(_other("other-transaction", "Current Reserve Amount", -st.reserve, posted))
        return rows


def _offset(seller: str, region: str, currency: str) -> int:
    digest = hashlib.sha256(f"{seller}:{region}:{currency}".encode()).hexdigest()
    return int(digest[:8], 16) % 630  # a multiple of every cadence below (2, 3, 5, 6, 7, 9)


def _deferred(k: int) -> bool:
    return k % 9 == 4


def _extra_rows(k: int, cur: str, fx: Decimal, start: float, posted: float) -> list[SettlementRow]:
    """The account-level line types of §5.2 that this settlement index carries (see above)."""

    def amt(usd: str) -> Decimal:
        return money(Decimal(usd) * fx, cur)

    ot = "other-transaction"
    rows: list[SettlementRow] = []
    if k % 6 == 1:
        rows.append(_other(ot, "Loan Advance", amt("500.00"), start + 120))
    elif k % 6 >= 2:
        rows.append(_other(ot, "Loan Repayment", -amt("127.50"), posted))
    if k % 5 == 2:
        rows.append(_other(ot, "Payable to Amazon", -amt("30.00"), start + 180))
        rows.append(_other(ot, "Successful charge", amt("30.00"), start + 180))
    elif k % 5 == 4:
        rows.append(_other(ot, "Payable to Amazon", -amt("18.00"), start + 180))
        rows.append(
            _other(ot, "Debt adjustment against another balance", amt("18.00"), start + 180)
        )
    if k % 3 == 1:
        rows.append(_other(ot, "Removal Fee", -amt("2.50"), posted))
        rows.append(_other(ot, "Disposal Fee", -amt("1.10"), posted))
    elif k % 3 == 2:
        rows.append(_other("SAFE-T Reimbursement", "SAFE-T Reimbursement", amt("22.00"), posted))
    if k % 2 == 1:
        reason = ("WAREHOUSE_DAMAGE", "WAREHOUSE_LOST", "REVERSAL_REIMBURSEMENT")[(k // 2) % 3]
        rows.append(
            _other(ot, reason, amt("14.95"), posted, amount_type="FBA Inventory Reimbursement")
        )
    return rows


def _refund_type(order_id: str) -> str:
    """1 in 5 refunds is a chargeback, 1 in 5 an A-to-z claim (stable per order id)."""
    n = int(hashlib.sha256(order_id.encode()).hexdigest()[:8], 16) % 5
    return {0: "Chargeback Refund", 1: "A-to-z Guarantee Refund"}.get(n, "Refund")


def _other(
    ttype: str, desc: str, amount: Decimal, posted: float, amount_type: str = "other-transaction"
) -> SettlementRow:
    return SettlementRow(ttype, "", "", "", "", amount_type, desc, amount, "", posted, "", "", "")


def _line_row(
    o: SimOrder, ln: SimLine, at: str, desc: str, amount: Decimal, qty: str = "", promo: str = ""
) -> SettlementRow:
    shipment = "D" + o.order_id.replace("-", "")[3:12]
    return SettlementRow(
        "Order",
        o.order_id,
        "",
        shipment,
        o.marketplace.name,
        at,
        desc,
        amount,
        o.channel,
        o.shipped_at or 0.0,
        ln.order_item_id,
        ln.item.sku,
        qty,
        promo,
    )


def _order_rows(o: SimOrder) -> list[SettlementRow]:
    """Every money component the order charged (the same amounts the Orders API serves), so
    Σ ItemPrice + Promotion rows of an order = ``o.total()``; then Amazon's withholdings and
    fees. Line names as V2 flat files show them [C]; MarketplaceFacilitatorTax-Giftwrap is the
    Finances ChargeType [D], its flat-file spelling by analogy [I]."""
    cur, fx = o.currency, FX[o.currency]
    rows = []
    for ln in o.lines:
        rows.append(_line_row(o, ln, "ItemPrice", "Principal", ln.item_price, str(ln.quantity)))
        rows.append(_line_row(o, ln, "ItemPrice", "Tax", ln.item_tax))
        for desc, amount in (
            ("Shipping", ln.shipping),
            ("ShippingTax", ln.shipping_tax),
            ("GiftWrap", ln.gift_wrap),
            ("GiftWrapTax", ln.gift_wrap_tax),
        ):
            if amount:
                rows.append(_line_row(o, ln, "ItemPrice", desc, amount))
        for desc, amount in (("Principal", ln.promotion), ("Shipping", ln.shipping_discount)):
            if amount:
                rows.append(_line_row(o, ln, "Promotion", desc, -amount, promo=ln.promotion_id))
        if o.facilitator_tax:
            rows += [_line_row(o, ln, "ItemWithheldTax", d, -a) for d, a in _withheld(ln)]
        commission = money(ln.item_price * Decimal("0.15"), cur)
        rows.append(_line_row(o, ln, "ItemFees", "Commission", -commission))
        if o.channel == "AFN":
            fee = money(Decimal("3.22") * fx, cur) * ln.quantity
            rows.append(_line_row(o, ln, "ItemFees", "FBAPerUnitFulfillmentFee", -fee))
    return rows


def _withheld(ln: SimLine) -> list[tuple[str, Decimal]]:
    """(amount-description, amount) of the marketplace-facilitator tax Amazon keeps, per
    taxed component of the line (ItemWithheldTax rows carry it negated)."""
    parts = (("Principal", ln.item_tax), ("Shipping", ln.shipping_tax),
             ("Giftwrap", ln.gift_wrap_tax))  # fmt: skip
    return [(f"MarketplaceFacilitatorTax-{p}", amount) for p, amount in parts if amount]


def _refund_rows(o: SimOrder) -> list[SettlementRow]:
    assert o.refunded_at is not None
    cur, fx, ln = o.currency, FX[o.currency], o.lines[0]
    adj = "amzn1.adj." + o.order_id.replace("-", "")
    commission = money(ln.item_price * Decimal("0.15"), cur)
    refund_fee = min(money(commission / 5, cur), money(Decimal(5) * fx, cur))
    kind = _refund_type(o.order_id)

    def row(at: str, desc: str, amount: Decimal, qty: str = "") -> SettlementRow:
        return SettlementRow(
            kind,
            o.order_id,
            adj,
            "",
            o.marketplace.name,
            at,
            desc,
            amount,
            o.channel,
            o.refunded_at or 0.0,
            ln.order_item_id,
            ln.item.sku,
            qty,
        )

    rows = [
        row("ItemPrice", "Principal", -ln.item_price, str(-ln.quantity)),
        row("ItemPrice", "Tax", -ln.item_tax),
    ]
    if o.facilitator_tax:
        rows.append(row("ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", ln.item_tax))
    if ln.promotion:
        rows.append(row("Promotion", "Principal", ln.promotion))
    rows.append(row("ItemFees", "Commission", commission))
    rows.append(row("ItemFees", "RefundCommission", -refund_fee))
    return rows
