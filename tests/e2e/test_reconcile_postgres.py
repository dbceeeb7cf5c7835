"""``reconcile`` on a PostgreSQL log: the same report as on SQLite, recorded for the status page.

One world, two logs: a sync into an SQLite file and a sync into a fresh PostgreSQL database post
the same settlements to one QAD tenant (the second finds every document already there). Both
logs then reconcile to the same report, clean and covering every settlement Amazon paid; after
QAD's books are damaged behind the engine's back (an invoice amount, a deleted journal) both
name the same damage. The CLI's run (``reconcile --config``, in-process, with the loaded config
pointed at the database as in tests/e2e/test_sync_postgres.py) exits 1 and records its outcome
in the PostgreSQL log, which the status page over that log shows per settlement.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from engine.cli import main
from engine.config import Config, DispatchConfig
from engine.log.opening import open_event_log
from engine.ops.reconcile import ReconcileReport, reconcile_config
from engine.ops.reconcile_record import RECONCILE_BOOKMARK, recorded_outcomes
from engine.ops.reconcile_render import render_csv, render_text
from engine.web.app import build_app
from engine.web.server import serve_context
from tests.e2e.test_reconcile import RECONCILED, _edit_qad
from tests.e2e.test_sync_postgres import _on_postgresql


def _same(a: ReconcileReport, b: ReconcileReport) -> None:
    assert [(s.settlement_id, s.status) for s in a.settlements] == [
        (s.settlement_id, s.status) for s in b.settlements
    ]
    assert a.order_counts() == b.order_counts() and a.fee_types() == b.fee_types()
    assert a.reserve_balances() == b.reserve_balances() and a.deposits() == b.deposits()
    assert render_csv(a) == render_csv(b) and render_text(a) == render_text(b)


async def _reconciled_on_page(cfg: Config) -> dict[str, str]:
    """Settlement id -> the reconciled state the settlements page over ``cfg``'s log shows."""
    async with serve_context(cfg.engine.db, cfg, None, demo=True) as ctx:
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(ctx)))
        await client.start_server()
        try:
            r = await client.get("/settlements")
            html = await r.text()
        finally:
            await client.close()
    assert r.status == 200, html
    rows = html.split("<tr>")[2:]  # after the header row
    return {m.group(1): m.group(2) for row in rows if (m := RECONCILED.search(row))}


async def test_reconcile_on_postgresql_gives_the_sqlite_report_and_records_it(
    make_world, pg_dsn, tmp_path, monkeypatch, capsys
) -> None:
    async with make_world(orders_per_day=3) as w:
        cfg = w.config(base=Config(dispatch=DispatchConfig(qad_rate_per_s=0)))
        pg = _on_postgresql(cfg, pg_dsn, str(tmp_path / "raw"))
        for each in (cfg, pg):
            async with w.engine(each) as eng:
                report = await eng.sync_once()
                assert not report.poll_errors, report.poll_errors
                assert report.dispatched.get("parked", 0) == 0
        refs = [inv["ar_po"] for inv in w.qad.invoices()]
        assert len(refs) == len(set(refs)), "the second log posted nothing twice"

        on_sqlite = await reconcile_config(cfg, demo=True)
        on_pg = await reconcile_config(pg, demo=True)
        settled = w.amazon.truth.settlements()
        assert len(settled) >= 3 and on_pg.clean
        assert {s.settlement_id for s in on_pg.settlements} == {st.settlement_id for st in settled}
        for cur in {st.currency for st in settled}:
            paid = sum((st.total for st in settled if st.currency == cur), Decimal(0))
            assert on_pg.deposits()[cur] == paid, cur
        assert sum(on_pg.order_counts().values()) >= 10
        _same(on_pg, on_sqlite)

        # Damage: A's invoice amount, B's journal gone.
        paying = [st for st in settled if st.total > 0]
        a, b = paying[0], next(st for st in settled if st is not paying[0])
        ref_a, ref_b = f"AMZ-STL-{a.settlement_id}", f"AMZ-STL-{b.settlement_id}"
        state = w.qad.state_file()
        _edit_qad(state, "UPDATE ar_mstr SET ar_amt = ? WHERE ar_po = ?",
                  (str(a.total + Decimal("0.01")), ref_a))  # fmt: skip
        _edit_qad(state, "DELETE FROM gltr_hist WHERE gltr_doc = ?", (ref_b,))
        damaged = await reconcile_config(pg, demo=True)
        _same(damaged, await reconcile_config(cfg, demo=True))
        status = {s.settlement_id: s.status for s in damaged.settlements}
        assert (status[a.settlement_id], status[b.settlement_id]) == ("different", "missing")
        assert list(status.values()).count("ok") == len(settled) - 2

        # The CLI on the PostgreSQL log: exit 1, the report written, the outcome recorded.
        monkeypatch.setattr("engine.cli.reconcile.load_config", lambda _path: pg)
        out = tmp_path / "recon.txt"
        argv = ["reconcile", "--config", "unused.toml", "--demo-credentials", "--out", str(out)]
        assert await asyncio.to_thread(main, argv) == 1
        err = capsys.readouterr().err
        assert "NOT ok" in err and "not recorded" not in err and "Traceback" not in err, err
        assert re.search(rf"journal\s+{ref_b}\s+missing", out.read_text()), out.read_text()
        async with open_event_log(pg_dsn, readonly=True) as log:
            recorded = await recorded_outcomes(log)
            assert await log.bookmark(RECONCILE_BOOKMARK) is not None
        assert {k: v["status"] for k, v in recorded.items()} == status
        assert await _reconciled_on_page(pg) == status
        # The SQLite log recorded nothing: the run was the PostgreSQL log's.
        async with open_event_log(cfg.engine.db, readonly=True) as log:
            assert await recorded_outcomes(log) == {}

        # A --since run merges: what it did not check keeps its recorded state.
        argv += ["--since", "2999-01-01"]
        assert await asyncio.to_thread(main, argv) == 0
        assert await _reconciled_on_page(pg) == status
