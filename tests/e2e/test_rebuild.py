"""Unmapped SKU: parked (never guessed), then posted exactly once after a map fix + rebuild."""

from __future__ import annotations

from collections import Counter

from engine.sim.business import sku_to_item


async def test_unmapped_sku_is_parked_then_posted_after_map_fix_and_rebuild(make_world):
    async with make_world(history_days=16, orders_per_day=5) as w:
        full = sku_to_item()
        missing = "MLC-1010-M"
        partial = {k: v for k, v in full.items() if k != missing}
        cfg = w.config(sku_map=partial)
        async with w.engine(cfg) as eng:
            await eng.sync_once()
            parked = [p for p in await eng.outbox.parked() if p.kind == "record"]
        parked_orders = {
            p.record_key for p in parked if p.projector == "orders" and missing in p.reason
        }
        assert parked_orders, "no order used the unmapped SKU"
        posted = {so["so_po"] for so in w.qad.sales_orders()}
        assert not parked_orders & posted  # never posted with a guessed item

        fixed = w.config(sku_map=full)
        async with w.engine(fixed) as eng:
            dry = await eng.runner.rebuild(dry_run=True)
            assert {
                c.reference for c in dry.new if c.kind == "qad.sales_order.create"
            } >= parked_orders
            diff = await eng.runner.rebuild(dry_run=False)
            assert set(diff.resolved_parks) >= parked_orders
            await eng.dispatcher.run_until_idle(60)
            again = await eng.runner.rebuild(dry_run=True)
            assert again.new == []  # a second rebuild finds nothing left to add
            still = [p for p in await eng.outbox.parked() if p.record_key in parked_orders]
            assert still == []
        refs = Counter(so["so_po"] for so in w.qad.sales_orders())
        assert all(refs[o] == 1 for o in parked_orders)
        assert max(refs.values()) == 1  # no duplicate anywhere
        for so in w.qad.sales_orders():
            if so["so_po"] in parked_orders:
                assert full[missing] in [ln["sod_part"] for ln in so["lines"]]
