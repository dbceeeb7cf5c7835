"""On a PostgreSQL log, commands parked by a QAD rejection are re-queued by `replay --parked` and
posted exactly once after the fix; `replay --command` names the log without its password.

Through the real CLI: ``--db`` takes the URL, while config.toml keeps its SQLite ``[engine] db``
(`replay` never opens the config's db, which the test checks by that file never appearing). The
sync runs on PostgreSQL as in test_sync_postgres.
"""

from __future__ import annotations

import asyncio
import dataclasses

from engine.cli import main as cli_main
from engine.log.opening import open_event_log
from engine.sim.business import sku_to_item
from engine.sim.qad.snapshot import snapshot
from tests.e2e.configfile import write_config
from tests.e2e.test_downstream_replay import CLOSED
from tests.e2e.test_replay_tenant_postgres import SECRET, _orders, _with_password
from tests.e2e.test_sync import assert_orders_match, assert_settlements_reconcile
from tests.e2e.test_sync_postgres import _on_postgresql

LAST_OUTCOME = (
    "SELECT count(*) FROM commands c JOIN attempts a ON a.id = (SELECT max(id) "
    "FROM attempts WHERE command_id = c.command_id) WHERE a.outcome = 'parked'"
)


async def test_parked_on_postgresql_then_replay_parked_posts_once(make_world, pg_dsn, capsys):
    async with make_world(history_days=16, orders_per_day=2) as w:
        on_sqlite = w.config()
        on_sqlite = dataclasses.replace(
            on_sqlite,
            dispatch=dataclasses.replace(on_sqlite.dispatch, qad_rate_per_s=200.0, qad_burst=50),
        )
        cfg = _on_postgresql(on_sqlite, pg_dsn, str(w.tmp / "raw"))
        # Every QAD write is refused with a business error (HTTP 200, submitResult failure).
        w.qad.faults.add("business_error", path="api/erp/", method="POST", message=CLOSED, times=0)
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            parked = [p for p in await eng.outbox.parked() if p.kind == "command"]
        assert report.dispatched.get("parked", 0) == len(parked) > 10
        assert w.qad.sales_orders() == [] and w.qad.invoices() == []

        config = write_config(on_sqlite, w.tmp / "config.toml")
        db = _with_password(pg_dsn)
        argv = ["replay", "--db", db, "--parked", "--config", str(config), "--demo-credentials"]
        # Still failing: parked again with QAD's text, exit 1, nothing posted.
        rc = await asyncio.to_thread(cli_main, [*argv, "--timeout", "30"])
        out = capsys.readouterr()
        assert rc == 1 and "still parked" in out.out and CLOSED in out.out, out.out + out.err
        assert w.qad.sales_orders() == []

        w.qad.faults.clear()  # the accountant reopens the period
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr()
        assert rc == 0, out.out + out.err
        assert f"re-queued {len(parked)} command(s)" in out.out
        assert SECRET not in out.out + out.err

        snap = snapshot(w.qad.state_file())
        assert snap.duplicate_count == 0
        async with open_event_log(pg_dsn, readonly=True) as log:
            for p in parked:
                rows = await log.query(
                    "SELECT outcome FROM attempts WHERE command_id = ? ORDER BY id",
                    (p.command_id,),
                )
                outcomes = [r[0] for r in rows]
                assert outcomes == ["parked", "requeued", "parked", "requeued", "ok"], (
                    p.command_id,
                    outcomes,
                )
            assert await log.query(LAST_OUTCOME) == [(0,)]
        assert_orders_match(w, await _orders(pg_dsn))
        assert assert_settlements_reconcile(w) >= 1
        item = sku_to_item()
        for sku, qty in w.amazon.truth.fba_inventory(None, "ATVPDKIKX0DER").items():
            assert w.qad.on_hand(item[sku], "10-FBA") == qty, sku

        # Nothing left: a second replay posts nothing; one command is re-queued by id.
        rc = await asyncio.to_thread(cli_main, argv)
        assert rc == 0 and "nothing to replay" in capsys.readouterr().out
        assert snapshot(w.qad.state_file()) == snap
        rc = await asyncio.to_thread(
            cli_main, ["replay", "--db", db, "--command", parked[0].command_id]
        )
        assert rc == 0 and "re-queued 1 command(s)" in capsys.readouterr().out
        async with open_event_log(pg_dsn, readonly=True) as log:
            [(last,)] = await log.query(
                "SELECT outcome FROM attempts WHERE command_id = ? ORDER BY id DESC LIMIT 1",
                (parked[0].command_id,),
            )
        assert last == "requeued"
        rc = await asyncio.to_thread(cli_main, ["replay", "--db", db, "--command", "no-such-id"])
        err = capsys.readouterr().err
        assert rc == 2 and "no command 'no-such-id' in postgresql://127.0.0.1:" in err
        assert SECRET not in err
        assert not (w.tmp / "events.db").exists()
