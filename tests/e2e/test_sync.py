"""End to end over real HTTP: Amazon simulator -> engine -> QAD simulator."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from engine.log import SQLiteEventLog
from engine.sim.business import sku_to_item
from engine.sim.qad.store.schema import CHARGE_ITEMS

ITEM = sku_to_item()


async def latest_orders(db: Any) -> dict[str, dict[str, Any]]:
    async with SQLiteEventLog.open(db, readonly=True) as log:
        return {e.key: e.payload async for e in log.read(streams=["amazon.orders"])}


def assert_orders_match(w: Any, orders: dict[str, dict[str, Any]]) -> None:
    qad = w.qad.sales_orders()
    refs = Counter(so["so_po"] for so in qad)
    assert not [r for r, n in refs.items() if n > 1], "duplicate sales orders"
    by_ref = {so["so_po"]: so for so in qad}
    now = w.amazon.clock.now()
    # Everything Amazon had settled in its state an hour ago was fetched.
    for o in w.amazon.truth.orders():
        if o.last_update(now.timestamp()) < (now - timedelta(hours=1)).timestamp():
            assert o.order_id in orders, f"order {o.order_id} never fetched"
    for oid, order in orders.items():
        truth = w.amazon.truth.order(oid)
        if oid not in by_ref:
            assert order["status"] == "Canceled", f"{oid} ({order['status']}) not in QAD"
            continue
        so = by_ref[oid]
        assert so["so_cust"].startswith("AMZ-")
        lines = sorted(truth.lines, key=lambda ln: ln.order_item_id)
        # An Amazon line is one QAD line, or two when its total needs a split to stay exact
        # (README "Order money"); charge lines (shipping, gift wrap, tax) are not item lines.
        by_part: dict[str, list[dict[str, Any]]] = {}
        for ln in so["lines"]:
            if ln["sod_part"] not in CHARGE_ITEMS:
                by_part.setdefault(ln["sod_part"], []).append(ln)
        assert list(by_part) == [ITEM[ln.item.sku] for ln in lines]
        assert [sum(x["sod_qty_ord"] for x in v) for v in by_part.values()] == [
            Decimal(ln.quantity) for ln in lines
        ]
        if order["status"] in ("Unshipped", "Shipped"):
            assert [
                sum(x["sod_price"] * x["sod_qty_ord"] for x in v) for v in by_part.values()
            ] == [ln.item_price - ln.promotion for ln in lines]
        if order["status"] == "Canceled":
            assert so["so_stat"].lower().startswith("c"), so["so_stat"]


def assert_settlements_reconcile(w: Any) -> int:
    invoices = {inv["ar_po"]: inv for inv in w.qad.invoices()}
    settled = w.amazon.truth.settlements()
    assert settled, "the simulated business has no closed settlement"
    for s in settled:
        ref = f"AMZ-STL-{s.settlement_id}"
        # A negative settlement is a credit note (ar_type M, positive amount); zero: no document.
        inv = invoices.get(ref, {"ar_type": "", "ar_amt": 0})
        signed = inv["ar_amt"] if inv["ar_type"] == "I" else -inv["ar_amt"]
        assert signed == s.total
        lines = w.qad.query(
            "SELECT gltr_amt, gltr_acc FROM gltr_hist WHERE gltr_doc = ? AND gltr_doc_typ = 'JL'",
            (ref,),
        )
        assert lines, f"no journal for {ref}"
        assert sum(Decimal(str(ln["gltr_amt"])) for ln in lines) == 0  # balanced
        clearing = sum(Decimal(str(ln["gltr_amt"])) for ln in lines if ln["gltr_acc"] == "1250")
        assert clearing == s.total  # debit of the deposit; the invoice credits it back
        # Both documents in one GL period, so the clearing account nets to zero in it.
        (period,) = w.qad.query(
            "SELECT DISTINCT gltr_year, gltr_per FROM gltr_hist WHERE gltr_doc = ?", (ref,)
        )
        if not s.total:
            continue
        assert (invoices[ref]["ar_year"], invoices[ref]["ar_per"]) == (
            period["gltr_year"],
            period["gltr_per"],
        )
    return len(settled)


async def test_sync_once_posts_everything_exactly_once_and_twice_posts_nothing(make_world):
    async with make_world() as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
            assert report.dispatched.get("parked", 0) == 0
        orders = await latest_orders(cfg.engine.db)
        assert len(orders) > 50
        assert_orders_match(w, orders)
        assert assert_settlements_reconcile(w) >= 3
        # FBA stock in QAD equals Amazon's for the aligned marketplace.
        fba = w.amazon.truth.fba_inventory(None, "ATVPDKIKX0DER")
        for sku, qty in fba.items():
            assert w.qad.on_hand(ITEM[sku], "10-FBA") == qty, sku
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            [(max_seq,)] = await log.query("SELECT max(seq) FROM commands")
            [(max_attempt,)] = await log.query("SELECT max(id) FROM attempts")

        # The second pass re-fetches overlapping windows: nothing already posted posts again.
        # (The simulated clock runs on, so a genuinely new order or status change may post.)
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            reposted = await log.query(
                "SELECT c.command_id, a.outcome FROM attempts a JOIN commands c USING (command_id) "
                "WHERE a.id > ? AND c.seq <= ?",
                (max_attempt, max_seq),
            )
        assert reposted == []
        assert_orders_match(w, await latest_orders(cfg.engine.db))
