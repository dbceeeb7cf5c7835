"""Settlements: every 14 days per (seller, region, currency), reconciling to orders/refunds/fees."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from engine.sim.amazon.data import DAY, FX, OrderBook, SimLine, SimOrder, money

__all__ = ["PERIOD", "SettlementRow", "Settlements", "SimSettlement"]

PERIOD = 14 * DAY
REPORT_DELAY = 6 * 3600.0  # Amazon publishes the report some hours after the period closes
_LOCALE = {"USD": "US", "CAD": "US", "EUR": "DE", "GBP": "UK", "JPY": "JP"}


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
        for o in self.book.purchased_between(start - OrderBook.MAX_LAG, stop):
            if o.seller != seller or o.currency != currency or o.marketplace.region != region:
                continue
            if o.shipped_at is not None and start <= o.shipped_at < stop:
                st.rows.extend(_order_rows(o))
                mps.add(o.marketplace.marketplace_id)
            if o.refunded_at is not None and start <= o.refunded_at < stop:
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
        base = sum((r.amount for r in st.rows), Decimal(0)) + sum(
            (r.amount for r in rows), Decimal(0)
        )
        if base > 0:
            st.reserve = money(base * Decimal("0.05"), cur)
            rows.append(_other("other-transaction", "Current Reserve Amount", -st.reserve, posted))
        return rows


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
    cur, fx = o.currency, FX[o.currency]
    rows = []
    for ln in o.lines:
        rows.append(_line_row(o, ln, "ItemPrice", "Principal", ln.item_price, str(ln.quantity)))
        rows.append(_line_row(o, ln, "ItemPrice", "Tax", ln.item_tax))
        if o.marketplace.country == "US":
            rows.append(
                _line_row(
                    o, ln, "ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", -ln.item_tax
                )
            )
        if ln.shipping:
            rows.append(_line_row(o, ln, "ItemPrice", "Shipping", ln.shipping))
        if ln.promotion:
            rows.append(
                _line_row(o, ln, "Promotion", "Principal", -ln.promotion, promo=ln.promotion_id)
            )
        commission = money(ln.item_price * Decimal("0.15"), cur)
        rows.append(_line_row(o, ln, "ItemFees", "Commission", -commission))
        if o.channel == "AFN":
            fee = money(Decimal("3.22") * fx, cur) * ln.quantity
            rows.append(_line_row(o, ln, "ItemFees", "FBAPerUnitFulfillmentFee", -fee))
    return rows


def _refund_rows(o: SimOrder) -> list[SettlementRow]:
    assert o.refunded_at is not None
    cur, fx, ln = o.currency, FX[o.currency], o.lines[0]
    adj = "amzn1.adj." + o.order_id.replace("-", "")
    commission = money(ln.item_price * Decimal("0.15"), cur)
    refund_fee = min(money(commission / 5, cur), money(Decimal(5) * fx, cur))

    def row(at: str, desc: str, amount: Decimal, qty: str = "") -> SettlementRow:
        return SettlementRow(
            "Refund",
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
    if o.marketplace.country == "US":
        rows.append(row("ItemWithheldTax", "MarketplaceFacilitatorTax-Principal", ln.item_tax))
    if ln.promotion:
        rows.append(row("Promotion", "Principal", ln.promotion))
    rows.append(row("ItemFees", "Commission", commission))
    rows.append(row("ItemFees", "RefundCommission", -refund_fee))
    return rows
