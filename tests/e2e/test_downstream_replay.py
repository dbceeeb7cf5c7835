"""A QAD-side failure parks commands; after the fix `replay --parked` posts them exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

from engine.cli import main as cli_main
from engine.log import SQLiteEventLog
from engine.sim.business import sku_to_item
from engine.sim.qad.snapshot import snapshot
from tests.e2e.configfile import write_config
from tests.e2e.test_sync import assert_orders_match, assert_settlements_reconcile, latest_orders

CLOSED = "Posting period 2026/11 is closed for entity 10USACO"


async def test_parked_by_qad_rejection_then_replay_parked_posts_once(make_world, capsys):
    async with make_world(history_days=16, orders_per_day=2) as w:
        cfg = w.config()
        cfg = dataclasses.replace(
            cfg, dispatch=dataclasses.replace(cfg.dispatch, qad_rate_per_s=200.0, qad_burst=50)
        )
        db = cfg.engine.db
        # Every QAD write is refused with a business error (HTTP 200, submitResult failure).
        w.qad.faults.add("business_error", path="api/erp/", method="POST", message=CLOSED, times=0)
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            parked = [p for p in await eng.outbox.parked() if p.kind == "command"]
        assert report.dispatched.get("parked", 0) == len(parked) > 10
        assert all(CLOSED in p.reason for p in parked), parked[0].reason
        kinds = Counter(p.command_id.split(":")[0] for p in parked)
        assert kinds["qad.sales_order.create"] and kinds["qad.invoice.create"], kinds
        assert w.qad.sales_orders() == [] and w.qad.invoices() == []

        config = write_config(cfg, w.tmp / "config.toml")
        rc = await asyncio.to_thread(cli_main, ["status", "--db", db])
        assert rc == 0 and CLOSED in capsys.readouterr().out  # the operator sees why

        # Still failing: replay parks them again (with the QAD text), exit 1, nothing posted.
        argv = ["replay", "--db", db, "--parked", "--config", str(config), "--demo-credentials"]
        rc = await asyncio.to_thread(cli_main, [*argv, "--timeout", "30"])
        assert rc == 1 and "still parked" in capsys.readouterr().out
        assert w.qad.sales_orders() == []

        w.qad.faults.clear()  # the accountant reopens the period
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr().out
        assert rc == 0, out
        assert f"re-queued {len(parked)} command(s)" in out

        snap = snapshot(w.qad.state_file())
        assert snap.duplicate_count == 0
        async with SQLiteEventLog.open(db, readonly=True) as log:
            for p in parked:
                rows = await log.query(
                    "SELECT outcome FROM attempts WHERE command_id = ? ORDER BY id",
                    (p.command_id,),
                )
                outcomes = [r[0] for r in rows]
                # parked, re-queued + parked again, re-queued + posted exactly once.
                assert outcomes == ["parked", "requeued", "parked", "requeued", "ok"], (
                    p.command_id,
                    outcomes,
                )
            [(left,)] = await log.query(
                "SELECT count(*) FROM commands c JOIN attempts a ON a.id = (SELECT max(id) "
                "FROM attempts WHERE command_id = c.command_id) WHERE a.outcome = 'parked'"
            )
            assert left == 0

        # The books match the Amazon truth: orders, settlements, FBA stock.
        assert_orders_match(w, await latest_orders(db))
        assert assert_settlements_reconcile(w) >= 1
        item = sku_to_item()
        for sku, qty in w.amazon.truth.fba_inventory(None, "ATVPDKIKX0DER").items():
            assert w.qad.on_hand(item[sku], "10-FBA") == qty, sku

        # Nothing left to replay; a second replay posts nothing.
        rc = await asyncio.to_thread(cli_main, argv)
        assert rc == 0 and "nothing to replay" in capsys.readouterr().out
        assert snapshot(w.qad.state_file()) == snap
