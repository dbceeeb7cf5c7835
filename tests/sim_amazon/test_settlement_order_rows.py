"""The settlement simulator's order rows carry every money component the order side serves.

For every shipped order of a seeded business, its settlement's ItemPrice + Promotion rows add up
to what the simulated order charged (``SimOrder.total()``, the amount the Orders API reports), a
marketplace-facilitator order's ItemWithheldTax rows give back exactly its tax, and every
component with money shows up under its V2 line name. Pure simulator (no HTTP): the same
generator the HTTP tests read through the reports API.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from engine.sim.amazon.data import DAY, OrderBook
from engine.sim.amazon.sellers import SellerConfig
from engine.sim.amazon.settlements import Settlements, SimSettlement

ORIGIN = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _settled(seed: int = 7, days: int = 60) -> tuple[OrderBook, list[SimSettlement]]:
    book = OrderBook(seed, [SellerConfig()], ORIGIN, days, 12, None)
    sims = Settlements(book, ORIGIN - 3 * DAY, {})
    out: list[SimSettlement] = []
    for region, currency in (("NA", "USD"), ("NA", "CAD"), ("EU", "EUR"), ("EU", "GBP")):
        out += sims.closed("demo", region, currency, ORIGIN + days * DAY)
    return book, out


def test_order_rows_sum_to_what_the_order_charged() -> None:
    book, settlements = _settled()
    charged: dict[str, Decimal] = defaultdict(Decimal)
    withheld: dict[str, Decimal] = defaultdict(Decimal)
    descriptions: set[tuple[str, str]] = set()
    for st in settlements:
        for r in st.rows:
            if r.transaction_type != "Order":
                continue
            descriptions.add((r.amount_type, r.amount_description))
            if r.amount_type in ("ItemPrice", "Promotion"):
                charged[r.order_id] += r.amount
            elif r.amount_type == "ItemWithheldTax":
                withheld[r.order_id] += r.amount
    assert len(charged) > 200
    for oid, amount in charged.items():
        o = book.by_id[oid]
        assert amount == o.total(), oid
        if o.facilitator_tax:
            assert withheld[oid] == -sum((ln.tax() for ln in o.lines), Decimal(0)), oid
        else:
            assert oid not in withheld
    # Every component the order side posts appears under its settlement line name.
    assert descriptions >= {
        ("ItemPrice", "Principal"),
        ("ItemPrice", "Tax"),
        ("ItemPrice", "Shipping"),
        ("ItemPrice", "ShippingTax"),
        ("ItemPrice", "GiftWrap"),
        ("ItemPrice", "GiftWrapTax"),
        ("Promotion", "Principal"),
        ("Promotion", "Shipping"),
        ("ItemWithheldTax", "MarketplaceFacilitatorTax-Principal"),
        ("ItemWithheldTax", "MarketplaceFacilitatorTax-Giftwrap"),
    }
    # No zero-amount component rows beyond the always-present principal and tax.
    for st in settlements:
        for r in st.rows:
            if r.amount_type in ("Promotion", "ItemWithheldTax") or (
                r.amount_type == "ItemPrice" and r.amount_description not in ("Principal", "Tax")
            ):
                assert r.amount != 0, r


def test_settlements_still_balance_and_repeat() -> None:
    _, first = _settled(seed=11, days=45)
    _, again = _settled(seed=11, days=45)
    for a, b in zip(first, again, strict=True):
        assert a.total == sum((r.amount for r in a.rows), Decimal(0))
        assert (a.settlement_id, a.total, a.rows) == (b.settlement_id, b.total, b.rows)
