"""`replay --to-tenant`: every event replayed into a fresh QAD entity reproduces the books."""

from __future__ import annotations

import asyncio
import dataclasses

from engine.cli import main as cli_main
from engine.log import SQLiteEventLog
from engine.sim.qad.snapshot import diff_snapshots, snapshot
from tests.e2e.configfile import write_config


def fast(cfg):
    # The simulator has no QAD rate limit configured here; keep the test quick.
    return dataclasses.replace(
        cfg, dispatch=dataclasses.replace(cfg.dispatch, qad_rate_per_s=200.0, qad_burst=50)
    )


async def test_replay_to_fresh_tenant_reproduces_documents_and_rerun_posts_nothing(
    make_world, capsys
):
    async with make_world(history_days=16, orders_per_day=2, tenants=("clouderp", "fresh")) as w:
        cfg = fast(w.config())
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors and report.dispatched.get("parked", 0) == 0
        original = snapshot(w.qad.state_file("clouderp"))
        assert original.sales_orders and original.invoices and original.journals
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            before = await log.query("SELECT count(*) FROM attempts")
        config = write_config(cfg, w.tmp / "config.toml")
        argv = [
            "replay", "--db", cfg.engine.db, "--config", str(config), "--demo-credentials",
            "--to-tenant", w.qad.tenant_url("fresh"), "--entity", cfg.qad.entity,
        ]  # fmt: skip

        # The CLI entry runs its own event loop: call it off this test's loop.
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr()
        assert rc == 0, out.out + out.err
        assert "target matches the original" in out.out
        assert "sales_order" in out.out and "dispatched" in out.err  # table + progress

        replayed = snapshot(w.qad.state_file("fresh"))
        d = diff_snapshots(original, replayed)
        # Stock is compared too (diff_snapshots compares final on-hand per item/site): both
        # tenants start from the same seeded stock and alignment sets an absolute target, so
        # the replayed alignments end at the same on-hand. The adjustment documents themselves
        # may differ (a difference against each tenant's balance), so they are not compared.
        assert (d["lost"], d["duplicated"], d["mismatched"]) == (0, 0, 0), d["examples"]
        assert replayed.counts() == original.counts()

        # The original outbox/audit trail was not touched.
        async with SQLiteEventLog.open(cfg.engine.db, readonly=True) as log:
            assert await log.query("SELECT count(*) FROM attempts") == before

        # Rerun: resumes from its own outbox, posts nothing new, still verifies clean.
        stats_before = w.qad.query("SELECT count(*) AS n FROM tr_hist", tenant="fresh")
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr()
        assert rc == 0, out.out + out.err
        assert "dispatched this run: nothing" in out.out
        assert "0 new" in out.out
        again = snapshot(w.qad.state_file("fresh"))
        assert again == replayed
        assert w.qad.query("SELECT count(*) AS n FROM tr_hist", tenant="fresh") == stats_before


async def test_replay_reports_a_document_that_differs_and_exits_1(make_world, capsys):
    async with make_world(history_days=4, tenants=("clouderp", "fresh")) as w:
        cfg = fast(w.config())
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        # After the replay someone edits one order's price in the target by hand:
        # a rerun must not touch it again, and the verification must say so.
        so = w.qad.sales_orders()[0]
        ref = so["so_po"]
        config = write_config(cfg, w.tmp / "config.toml")
        argv = [
            "replay", "--db", cfg.engine.db, "--config", str(config), "--demo-credentials",
            "--to-tenant", w.qad.tenant_url("fresh"), "--entity", cfg.qad.entity,
        ]  # fmt: skip
        assert await asyncio.to_thread(cli_main, argv) == 0
        capsys.readouterr()
        w.qad.query(
            "UPDATE sod_det SET sod_price = '0.01' WHERE sod_nbr = "
            "(SELECT so_nbr FROM so_mstr WHERE so_po = ?)",
            (ref,),
            tenant="fresh",
        )
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr().out
        assert rc == 1
        assert f"sales_order {ref}: lines differ" in out
        assert "target does NOT match the original" in out


def test_replay_to_tenant_rejects_bad_targets(tmp_path, capsys):
    db = tmp_path / "events.db"
    db.write_bytes(b"")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[qad]\ntenant_url = "http://127.0.0.1:9/clouderp"\n')
    base = ["replay", "--db", str(db), "--config", str(cfg), "--demo-credentials"]
    cases = {
        "must use https": ["--to-tenant", "http://qad.example.com/x", "--entity", "E1"],
        "user:password@": ["--to-tenant", "https://u:p@qad.example.com/x", "--entity", "E1"],
        "'..'": ["--to-tenant", "https://qad.example.com/a/../b", "--entity", "E1"],
        "--entity": ["--to-tenant", "https://qad.example.com/x", "--entity", "../E1"],
        "needs --entity": ["--to-tenant", "https://qad.example.com/x"],
        "configured tenant": ["--to-tenant", "http://127.0.0.1:9/clouderp", "--entity", "10USACO"],
    }
    for expected, extra in cases.items():
        assert cli_main(base + extra) == 2, extra
        assert expected in capsys.readouterr().err, extra


async def test_interrupted_replay_resumes_without_duplicates(make_world, capsys):
    async with make_world(history_days=16, orders_per_day=2, tenants=("clouderp", "fresh")) as w:
        cfg = fast(w.config())
        cfg = dataclasses.replace(
            cfg, dispatch=dataclasses.replace(cfg.dispatch, retry_base_s=0.2, retry_cap_s=1.0)
        )
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        config = write_config(cfg, w.tmp / "config.toml")
        argv = [
            "replay", "--db", cfg.engine.db, "--config", str(config), "--demo-credentials",
            "--to-tenant", w.qad.tenant_url("fresh"), "--entity", cfg.qad.entity,
        ]  # fmt: skip
        # The target goes down after a dozen writes (HTTP 503 on every write from then on);
        # the replay retries until its --timeout, then stops with work left.
        ok_writes = 12
        rule = w.qad.faults.add(
            "status", tenant="fresh", method="POST", path="api/erp/", status=503, times=0
        )
        original_match = w.qad.faults.match
        seen = {"posts": 0}

        def match(**kw):  # let the first `ok_writes` writes through, then fail every write
            if kw["tenant"] == "fresh" and kw["method"] == "POST" and "api/erp/" in kw["path"]:
                seen["posts"] += 1
                if seen["posts"] <= ok_writes:
                    return None
            return original_match(**kw)

        w.qad.faults.match = match  # type: ignore[method-assign]
        rc = await asyncio.to_thread(cli_main, [*argv, "--timeout", "2"])
        out = capsys.readouterr().out
        assert rc == 1, out
        assert "does NOT match" in out
        assert "rerun to resume" in out or "parked qad." in out
        partial = snapshot(w.qad.state_file("fresh"))
        assert 0 < len(partial.sales_orders) < len(snapshot(w.qad.state_file()).sales_orders)

        w.qad.faults.match = original_match  # type: ignore[method-assign]
        w.qad.faults.rules.remove(rule)  # the target is back
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr().out
        assert rc == 0, out
        d = diff_snapshots(snapshot(w.qad.state_file()), snapshot(w.qad.state_file("fresh")))
        assert (d["lost"], d["duplicated"], d["mismatched"]) == (0, 0, 0), d["examples"]
