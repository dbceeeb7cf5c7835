"""Freshness is measured per order version posted to QAD and shown by ``status`` (issue 17).

A sync against the simulators records one ``order_freshness`` row per sales-order command that
reached QAD, on the Amazon (simulator) clock; a second pass over the same orders adds none (a
re-read or re-post never counts twice); ``freshness_summary`` and ``status`` give p50/p95.
"""

from __future__ import annotations

import io
from typing import Any

from engine.cli.status import render
from engine.ops.freshness import freshness_summary
from engine.ops.status import collect_status


async def test_posted_orders_get_one_freshness_sample_each(make_world: Any) -> None:
    async with make_world(history_days=2, orders_per_day=6) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            await eng.sync_once()
            [(done,)] = await eng.log.query(
                "SELECT count(*) FROM commands c WHERE c.kind LIKE 'qad.sales_order.%' AND "
                "EXISTS (SELECT 1 FROM attempts a WHERE a.command_id = c.command_id AND "
                "a.outcome IN ('ok', 'exists'))"
            )
            rows = await eng.log.query(
                "SELECT order_id, last_update, posted_at, seconds, region FROM order_freshness"
            )
            assert done > 0 and len(rows) == done
            now = w.amazon.clock.now().isoformat()
            for _oid, last_update, posted_at, seconds, region in rows:
                assert last_update <= posted_at <= now  # on the simulator's clock
                assert seconds >= 0 and region in ("NA", "EU", "FE")
            await eng.sync_once()  # same orders again: nothing new to count
            [(again,)] = await eng.log.query("SELECT count(*) FROM order_freshness")
            assert again == len(rows)
            summary = await freshness_summary(eng.log)
            day = {(r["flow"], r["region"]): r for r in summary["windows"]["day"]}
            overall = day[("amazon.orders", "*")]
            assert overall["count"] == len(rows)
            assert overall["p50_s"] <= overall["p95_s"] <= overall["max_s"]
            status = await collect_status(eng.log)
    out = io.StringIO()
    render(status, out)
    assert "freshness (Amazon LastUpdateDate -> QAD post" in out.getvalue()
    assert "amazon.orders" in out.getvalue() and "p95" in out.getvalue()
