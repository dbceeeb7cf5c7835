"""Seeded, lazy generator of the seller's orders over simulated time.

Orders are generated one (seller, day) at a time from an RNG seeded by (seed, seller, day), so the
same seed always yields the same business and only the days the clock has reached are held in
memory. Each order carries its whole timeline (paid, shipped/cancelled, refunded); its state at a
moment is derived from that timeline, so status changes need no background task.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from dataclasses import replace as replace_fields
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from engine.sim.amazon.sellers import SellerConfig
from engine.sim.business import CatalogItem, Marketplace, catalog

__all__ = ["FX", "TAX", "OrderBook", "SimLine", "SimOrder", "money", "quantum", "split_lines"]

DAY = 86400.0
FX = {
    "USD": Decimal("1"),
    "CAD": Decimal("1.35"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "JPY": Decimal("150"),
}
TAX = {
    "US": Decimal("0.07"),
    "CA": Decimal("0.13"),
    "DE": Decimal("0.19"),
    "GB": Decimal("0.20"),
    "JP": Decimal("0.10"),
}
_WEIGHT = {"US": 45, "CA": 10, "DE": 20, "GB": 15, "JP": 10}
_PREFIX = {"US": "113", "CA": "701", "DE": "302", "GB": "205", "JP": "249"}


def quantum(currency: str) -> Decimal:
    return Decimal("1") if currency == "JPY" else Decimal("0.01")


def money(value: Decimal, currency: str) -> Decimal:
    return value.quantize(quantum(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class SimLine:
    order_item_id: str
    item: CatalogItem
    quantity: int
    item_price: Decimal  # unit price x quantity
    item_tax: Decimal
    shipping: Decimal
    promotion: Decimal  # discount (positive number)
    promotion_id: str
    # Money components drawn by ``_money_extras`` (their own RNG: the order stream is unchanged).
    shipping_tax: Decimal = Decimal(0)
    shipping_discount: Decimal = Decimal(0)  # positive number, at most ``shipping``
    gift_wrap: Decimal = Decimal(0)
    gift_wrap_tax: Decimal = Decimal(0)

    def total(self) -> Decimal:
        """What the buyer pays for this line, every component, tax included."""
        return (
            self.item_price
            + self.item_tax
            + self.shipping
            + self.shipping_tax
            - self.shipping_discount
            + self.gift_wrap
            + self.gift_wrap_tax
            - self.promotion
        )

    def tax(self) -> Decimal:
        return self.item_tax + self.shipping_tax + self.gift_wrap_tax


@dataclass(frozen=True, slots=True)
class SimOrder:
    order_id: str
    seller: str
    marketplace: Marketplace
    channel: str  # AFN / MFN
    purchased: float  # UTC epoch seconds
    paid_at: float
    shipped_at: float | None
    canceled_at: float | None
    refunded_at: float | None  # the first line is refunded in full at this moment
    lines: tuple[SimLine, ...]
    business_po: str = ""  # an Amazon Business order's purchase order number ("" = consumer)
    replaced_order_id: str = ""  # a replacement order (zero prices) of this order

    @property
    def currency(self) -> str:
        return self.marketplace.currency

    @property
    def is_business(self) -> bool:
        return bool(self.business_po)

    @property
    def facilitator_tax(self) -> bool:
        """Amazon collects and remits the tax (US marketplace facilitator laws), as the
        simulated settlements withhold it (ItemWithheldTax) for US orders."""
        return self.marketplace.country == "US"

    def status(self, t: float) -> str:
        if self.canceled_at is not None and t >= self.canceled_at:
            return "Canceled"
        if t < self.paid_at:
            return "Pending"
        if self.shipped_at is not None and t >= self.shipped_at:
            return "Shipped"
        return "Unshipped"

    def last_update(self, t: float) -> float:
        moments = (self.purchased, self.paid_at, self.shipped_at, self.canceled_at)
        return max(m for m in moments if m is not None and m <= t)

    def total(self) -> Decimal:
        return sum((ln.total() for ln in self.lines), Decimal(0))

    def refund_amount(self) -> Decimal:
        ln = self.lines[0]
        return ln.item_price + ln.item_tax


def ts(dt: datetime) -> float:
    return dt.timestamp()


def dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


# Shares of the money components drawn per order by ``_money_extras`` (documented in README
# "Order money"): business orders 8 % (a PO number), gift wrap 4 % (first line, 3.99 USD
# converted, taxed at the country rate), free-shipping promotions on 25 % of orders with a
# shipping charge (ShippingDiscount = the shipping), VAT/GST on shipping outside the US (the
# country rate), replacement orders 2 % (of an earlier order of the same day, all prices 0).
BUSINESS_SHARE, GIFT_SHARE, FREE_SHIP_SHARE, REPLACEMENT_SHARE = 0.08, 0.04, 0.25, 0.02


def _money_extras(o: SimOrder, seed: int, earlier: list[SimOrder]) -> SimOrder:
    """The order with the extra money components: an RNG of its own (seed, order id), so
    every existing draw of the day's stream (and every existing order) stays as it was."""
    rng = random.Random(f"{seed}:money:{o.order_id}")
    cur, rate = o.currency, TAX[o.marketplace.country]
    business, gift, free_ship, replace = (rng.random() for _ in range(4))
    lines = []
    zero = Decimal(0) * quantum(cur)
    for li, ln in enumerate(o.lines):
        ship_tax = money(ln.shipping * rate, cur) if o.marketplace.country != "US" else zero
        ship_disc = ln.shipping if ln.shipping and free_ship < FREE_SHIP_SHARE else zero
        if ship_disc:
            ship_tax = zero  # a free shipping leaves nothing to tax
        wrap = money(Decimal("3.99") * FX[cur], cur) if li == 0 and gift < GIFT_SHARE else zero
        lines.append(
            replace_fields(
                ln,
                shipping_tax=ship_tax if ln.shipping else zero,
                shipping_discount=ship_disc,
                gift_wrap=wrap,
                gift_wrap_tax=money(wrap * rate, cur) if wrap else zero,
            )
        )
    replaced = ""
    if replace < REPLACEMENT_SHARE and earlier:
        replaced = earlier[int(rng.random() * len(earlier))].order_id
        lines = [
            replace_fields(
                ln,
                item_price=zero,
                item_tax=zero,
                shipping=zero,
                shipping_tax=zero,
                shipping_discount=zero,
                gift_wrap=zero,
                gift_wrap_tax=zero,
                promotion=zero,
                promotion_id="",
            )
            for ln in lines
        ]
    po = f"PO-{rng.randrange(10**6):06d}" if business < BUSINESS_SHARE else ""
    return replace_fields(o, lines=tuple(lines), business_po=po, replaced_order_id=replaced)


def _share(v: Decimal, q: int, currency: str) -> Decimal:
    return money(v / q, currency)


def split_lines(o: SimOrder, seed: int, share: float) -> SimOrder:
    """``share`` of the AFN lines with quantity >= 2 shipped from two fulfilment centres: two
    real lines of the same SKU (qty 1 + rest), each with its own OrderItemId, every money
    component split so the two sum to the original exactly. The All Orders flat file then shows
    two rows of the same order+sku [U selling-partner-api-models#442, docs#3277]; the Orders API
    shows the same two lines (it is the business, not a report artefact). Own RNG (seed, order
    id): no other draw changes; share 0 changes nothing."""
    if share <= 0 or o.channel != "AFN":
        return o
    rng = random.Random(f"{seed}:split:{o.order_id}")
    out: list[SimLine] = []
    for ln in o.lines:
        if ln.quantity < 2 or rng.random() >= share:
            out.append(ln)
            continue
        cur, q = o.currency, ln.quantity
        part = partial(_share, q=q, currency=cur)  # the first line's (qty 1) share
        first = replace_fields(
            ln,
            quantity=1,
            item_price=money(ln.item_price / q, cur),  # unit x 1: exact (it is unit x qty)
            item_tax=part(ln.item_tax),
            shipping=part(ln.shipping),
            shipping_tax=part(ln.shipping_tax),
            shipping_discount=part(ln.shipping_discount),
            promotion=part(ln.promotion),
        )
        rest = replace_fields(
            ln,
            order_item_id=f"{rng.randrange(10**13, 10**14)}",
            quantity=q - 1,
            item_price=ln.item_price - first.item_price,
            item_tax=ln.item_tax - first.item_tax,
            shipping=ln.shipping - first.shipping,
            shipping_tax=ln.shipping_tax - first.shipping_tax,
            shipping_discount=ln.shipping_discount - first.shipping_discount,
            promotion=ln.promotion - first.promotion,
            promotion_id=ln.promotion_id if ln.promotion - first.promotion else "",
            gift_wrap=Decimal(0) * quantum(cur),
            gift_wrap_tax=Decimal(0) * quantum(cur),
        )
        out += [first, rest]
    return replace_fields(o, lines=tuple(out))


class OrderBook:
    """All orders of all sellers, sorted by purchase time, generated day by day on demand."""

    MAX_LAG = 16 * DAY  # latest event (refund) after purchase; bounds every time-window scan

    def __init__(
        self,
        seed: int,
        sellers: list[SellerConfig],
        origin: float,
        history_days: int,
        orders_per_day: int,
        total_orders: int | None,
        lines_per_order: int | None = None,
        split_line_share: float = 0.0,
    ) -> None:
        self.seed = seed
        self.split_line_share = split_line_share  # split_lines(); 0 = the business as before
        # None: the realistic mix (mostly one line); n: n-1..n+1 lines, mean n (benchmarks).
        self.lines_per_order = lines_per_order
        self.sellers = sellers
        self.origin = origin
        self.history_days = history_days
        self.orders_per_day = orders_per_day
        self.total_orders = total_orders
        self.catalog = catalog()
        self.orders: list[SimOrder] = []
        self._purchased: list[float] = []
        self.by_id: dict[str, SimOrder] = {}
        self._days_done = 0

    def _count(self, day: int) -> int:
        if self.total_orders is not None and day < self.history_days:
            n, d = self.total_orders, self.history_days
            return (day + 1) * n // d - day * n // d
        return self.orders_per_day

    def ensure(self, until: float) -> None:
        """Generate every day that starts before ``until``."""
        while self.origin + self._days_done * DAY <= until:
            day = self._days_done
            batch: list[SimOrder] = []
            for si, cfg in enumerate(self.sellers):
                batch.extend(self._gen_day(si, cfg, day))
            batch.sort(key=lambda o: o.purchased)
            for o in batch:
                self.orders.append(o)
                self._purchased.append(o.purchased)
                self.by_id[o.order_id] = o
            self._days_done += 1

    def _gen_day(self, si: int, cfg: SellerConfig, day: int) -> list[SimOrder]:
        rng = random.Random(f"{self.seed}:{si}:{day}")
        mps = [m for r in cfg.regions for m in _markets(cfg, r)]
        if not mps:
            return []
        weights = [_WEIGHT.get(m.country, 10) for m in mps]
        count = (
            self._count(day) // max(1, len(self.sellers)) if self.total_orders else self._count(day)
        )
        if self.total_orders is not None and si == 0:
            count += self._count(day) % max(1, len(self.sellers))
        start = self.origin + day * DAY
        out: list[SimOrder] = []
        afn = [c for c in self.catalog if c.fulfillment == "AFN"]
        mfn = [c for c in self.catalog if c.fulfillment == "MFN"]
        for i in range(count):
            mp = rng.choices(mps, weights)[0]
            purchased = start + rng.random() * DAY
            channel = "AFN" if rng.random() < 0.6 else "MFN"
            pool = afn if channel == "AFN" else mfn
            if self.lines_per_order is None:
                nlines = rng.choices((1, 2, 3), (70, 20, 10))[0]
            else:
                n = max(1, min(self.lines_per_order, len(pool) - 1))
                nlines = rng.choices((max(1, n - 1), n, n + 1), (25, 50, 25))[0]
            items = rng.sample(pool, nlines)
            promo = rng.random() < 0.12
            lines = []
            for li, item in enumerate(items):
                qty = rng.choices((1, 2, 3), (75, 18, 7))[0]
                unit = money(item.list_price * FX[mp.currency], mp.currency)
                price = unit * qty
                tax = money(price * TAX[mp.country], mp.currency)
                ship = money(Decimal("4.99") * FX[mp.currency], mp.currency)
                discount = money(price / 10 if promo and li == 0 else Decimal(0), mp.currency)
                lines.append(
                    SimLine(
                        order_item_id=f"{rng.randrange(10**13, 10**14)}",
                        item=item,
                        quantity=qty,
                        item_price=price,
                        item_tax=tax,
                        shipping=ship if channel == "MFN" and li == 0 else Decimal(0),
                        promotion=discount,
                        promotion_id=f"PLM-{rng.randrange(10**8):08d}" if discount else "",
                    )
                )
            paid = purchased + rng.uniform(60, 1800)
            canceled = shipped = refunded = None
            roll = rng.random()
            if roll < 0.04:
                canceled = purchased + rng.uniform(120, 6 * 3600)
            else:
                shipped = paid + rng.uniform(2 * 3600, 36 * 3600)
                if roll > 0.95:
                    refunded = shipped + rng.uniform(2 * DAY, 12 * DAY)
            seq = (si * 10**6 + day * 20000 + i) % 10**7
            oid = f"{_PREFIX.get(mp.country, '111')}-{seq:07d}-{rng.randrange(10**7):07d}"
            out.append(
                self._extras(
                    SimOrder(
                        oid,
                        cfg.name,
                        mp,
                        channel,
                        purchased,
                        paid,
                        shipped,
                        canceled,
                        refunded,
                        tuple(lines),
                    ),
                    self.seed,
                    out,
                )
            )
        return out

    def _extras(self, o: SimOrder, seed: int, earlier: list[SimOrder]) -> SimOrder:
        return split_lines(_money_extras(o, seed, earlier), seed, self.split_line_share)

    def purchased_between(self, lo: float, hi: float) -> list[SimOrder]:
        """Orders with lo <= purchased < hi (generated up to ``hi`` first)."""
        self.ensure(hi)
        a = bisect.bisect_left(self._purchased, lo)
        b = bisect.bisect_left(self._purchased, hi)
        return self.orders[a:b]


def _markets(cfg: SellerConfig, region: str) -> list[Marketplace]:
    from engine.sim.amazon.sellers import marketplace

    return [m for i in cfg.marketplace_ids(region) if (m := marketplace(i)) is not None]
