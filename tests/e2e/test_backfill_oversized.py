"""A report document over ``[backfill] max_document_mb`` is refused whole, its window halved and
asked again (issue 17: "an oversized document fails cleanly and is retried"): nothing of the
refused document is appended, the smaller windows are read, and the history arrives whole.
"""

from __future__ import annotations

from pathlib import Path

from engine.log.sqlite import SQLiteEventLog
from engine.sim.amazon.truth import Truth
from tests.e2e.test_backfill import _ts, configure, sources, world
from tests.e2e.test_sync import latest_orders

# The cap applies to the document as downloaded (gzip): this business's 30-day windows are
# 4-6 KB there, half-windows 2-3 KB, so a 3 KB cap refuses the first and takes the halves.
CAP_MB = 0.003


async def test_oversized_document_is_refused_and_its_window_halved(tmp_path: Path) -> None:
    async with world(tmp_path, history_days=40) as w:
        cfg = configure(w, backfill=True, us_only=True, max_document_mb=CAP_MB)
        errors: list[str] = []
        async with w.engine(cfg) as eng:
            for attempt in range(12):
                report = await eng.poll(["orders"])
                if not report.poll_errors:
                    break
                errors.append(report.poll_errors["orders:NA"])
                if attempt == 0:  # the refused document appended nothing
                    assert not await sources(cfg)
        assert not report.poll_errors, report.poll_errors
        assert errors and all("byte cap" in e for e in errors), errors
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            state = await log.bookmark("amazon.orders.backfill.NA")
        assert state is not None and state["finished"]
        windows = state["windows"]
        assert len(windows) > 2  # 45 days are two windows; the refused ones were split
        # every document kept is under the cap (a refused download is removed, never read)
        kept = [f for f in (tmp_path / "raw").rglob("*") if f.is_file()]
        assert kept and all(f.stat().st_size <= CAP_MB * (1 << 20) for f in kept)
        # the halves cover the history without a gap or an overlap
        assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))
        got = await latest_orders(cfg.engine.db)
        # every order of the simulated business in the backfilled span is in the log
        start, end = _ts(windows[0][0]), _ts(windows[-1][1])
        now = w.amazon.world.now()
        business = {
            o.order_id
            for o in Truth(w.amazon.world).orders(marketplace_id="ATVPDKIKX0DER")
            if start <= o.last_update(now) < end
        }
    assert len(business) > 50
    assert business <= set(got), sorted(business - set(got))[:5]
