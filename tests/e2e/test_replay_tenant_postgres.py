"""`replay --to-tenant` from a PostgreSQL log: every event replayed into a fresh QAD entity gives
the original's books, with the replay's outbox in a schema of the same database.

Through the real CLI: ``--db`` takes the URL, while config.toml keeps its SQLite ``[engine] db``
(the replay never opens the config's db, which the test checks by that file never appearing).
The sync before it runs on PostgreSQL as in test_sync_postgres.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from engine.cli import main as cli_main
from engine.errors import StoreError
from engine.log.opening import open_event_log
from engine.ops.demo import simulator_config
from engine.ops.replay import plan_tenant_replay
from engine.ops.retarget import ReplayTarget
from engine.sim.qad.snapshot import diff_snapshots, snapshot
from tests.e2e.configfile import write_config
from tests.e2e.test_replay_tenant import fast
from tests.e2e.test_sync import assert_orders_match, assert_settlements_reconcile
from tests.e2e.test_sync_postgres import _on_postgresql

SECRET = "s3cret-pw"  # the cluster trusts loopback: a password in the URL is sent, never needed


class _TenantReads:
    """The simulator's reads bound to one tenant, so the sync suite's book checks (written for
    the configured tenant) read the fresh entity."""

    def __init__(self, qad: Any, tenant: str) -> None:
        self._qad, self._tenant = qad, tenant

    def sales_orders(self) -> list[dict[str, Any]]:
        return list(self._qad.sales_orders(self._tenant))

    def invoices(self) -> list[dict[str, Any]]:
        return list(self._qad.invoices(self._tenant))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return list(self._qad.query(sql, params, tenant=self._tenant))


def _with_password(dsn: str) -> str:
    scheme, rest = dsn.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}"


async def _orders(dsn: str) -> dict[str, dict[str, Any]]:
    async with open_event_log(dsn, readonly=True) as log:
        return {e.key: e.payload async for e in log.read(streams=["amazon.orders"])}


async def test_replay_from_postgresql_into_a_fresh_entity_matches_and_a_rerun_posts_nothing(
    make_world, pg_dsn, capsys
):
    async with make_world(history_days=16, orders_per_day=2, tenants=("clouderp", "fresh")) as w:
        on_sqlite = fast(w.config())
        cfg = _on_postgresql(on_sqlite, pg_dsn, str(w.tmp / "raw"))
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors and report.dispatched.get("parked", 0) == 0
        original = snapshot(w.qad.state_file("clouderp"))
        assert original.sales_orders and original.invoices and original.journals
        async with open_event_log(pg_dsn, readonly=True) as log:
            before = await log.query("SELECT count(*) FROM attempts")
        config = write_config(on_sqlite, w.tmp / "config.toml")
        target = ReplayTarget.parse(w.qad.tenant_url("fresh"), cfg.qad.entity)
        argv = [
            "replay", "--db", _with_password(pg_dsn), "--config", str(config),
            "--demo-credentials", "--to-tenant", target.tenant_url, "--entity", target.entity,
        ]  # fmt: skip

        rc = await asyncio.to_thread(cli_main, argv)  # the CLI runs its own event loop
        out = capsys.readouterr()
        assert rc == 0, out.out + out.err
        assert "target matches the original" in out.out
        schema = f"mlc_replay_{target.key}"
        assert f"(schema {schema})" in out.out  # where the replay outbox is
        assert SECRET not in out.out + out.err

        # Every order is in the fresh entity to the cent, every settlement reconciles there.
        fresh = SimpleNamespace(amazon=w.amazon, qad=_TenantReads(w.qad, "fresh"))
        orders = await _orders(pg_dsn)
        assert len(orders) > 20
        assert_orders_match(fresh, orders)
        assert assert_settlements_reconcile(fresh) >= 1
        replayed = snapshot(w.qad.state_file("fresh"))
        d = diff_snapshots(original, replayed)
        assert (d["lost"], d["duplicated"], d["mismatched"]) == (0, 0, 0), d["examples"]
        assert replayed.counts() == original.counts()

        # The replay outbox is a schema of the same database, and the original trail is intact.
        async with open_event_log(pg_dsn, readonly=True, namespace=schema) as replay_log:
            [(commands,)] = await replay_log.query("SELECT count(*) FROM commands")
            [(unfinished,)] = await replay_log.query(
                "SELECT count(*) FROM commands c JOIN attempts a ON a.id = (SELECT max(id) "
                "FROM attempts WHERE command_id = c.command_id) "
                "WHERE a.outcome NOT IN ('ok', 'exists', 'skipped')"
            )
        assert commands > len(original.sales_orders) and unfinished == 0
        async with open_event_log(pg_dsn, readonly=True) as log:
            assert await log.query("SELECT count(*) FROM attempts") == before
        assert sorted(p.name for p in w.tmp.iterdir() if "events.db" in p.name) == []

        # Rerun: resumes from the same schema, posts nothing new, still verifies clean.
        moves = w.qad.query("SELECT count(*) AS n FROM tr_hist", tenant="fresh")
        rc = await asyncio.to_thread(cli_main, argv)
        out = capsys.readouterr()
        assert rc == 0, out.out + out.err
        assert "dispatched this run: nothing" in out.out
        assert f"(schema {schema}) ({commands} QAD commands, 0 new)" in out.out
        assert snapshot(w.qad.state_file("fresh")) == replayed
        assert w.qad.query("SELECT count(*) AS n FROM tr_hist", tenant="fresh") == moves


def test_the_replay_outbox_is_named_after_the_log_and_the_target(tmp_path):
    # Planning connects to nothing: the names are fixed before any log is opened.
    cfg = simulator_config(
        tmp_path / "events.db",
        amazon_base="http://127.0.0.1:9",
        lwa_url="",
        qad_url="http://127.0.0.1:9/clouderp",
    )
    url = f"postgresql://mlc:{SECRET}@db.example.com:5433/mlc"
    target = ReplayTarget.parse("http://127.0.0.1:9/fresh", "20USACO")
    default = plan_tenant_replay(url, cfg, target, demo=True)
    assert (default.outbox.target, default.outbox.namespace) == (url, f"mlc_replay_{target.key}")
    assert (
        default.outbox.where
        == f"postgresql://db.example.com:5433/mlc (schema mlc_replay_{target.key})"
    )
    assert default.source_label == "postgresql://db.example.com:5433/mlc"
    seller = plan_tenant_replay(url, cfg, target, demo=True, namespace="seller_a")
    assert seller.outbox.namespace == f"seller_a_replay_{target.key}"
    assert seller.source_label.endswith("(schema seller_a)")
    other = ReplayTarget.parse("http://127.0.0.1:9/fresh", "30USACO")
    assert plan_tenant_replay(url, cfg, other, demo=True).outbox.namespace != (
        default.outbox.namespace
    )
    # A log schema too long to carry the suffix: one line naming the log, no password.
    with pytest.raises(
        StoreError, match=r"the replay outbox of postgresql://.*cannot name"
    ) as info:
        plan_tenant_replay(url, cfg, target, demo=True, namespace="s" * 50)
    assert SECRET not in str(info.value)
    # An SQLite log keeps its sibling file.
    db = tmp_path / "events.db"
    on_file = plan_tenant_replay(db, cfg, target, demo=True).outbox
    assert on_file.target == db.with_name(f"events.db.replay-{target.key}.sqlite")
    assert on_file.namespace is None and on_file.where == str(on_file.target)
