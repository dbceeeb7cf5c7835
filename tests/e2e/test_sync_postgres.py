"""The whole engine on PostgreSQL: one sync pass over real HTTP gives the books SQLite gives.

The config of the simulators' world, with ``[engine] db`` pointed at a fresh database.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engine.config import Config
from engine.errors import ConfigError
from engine.log.opening import open_event_log
from tests.e2e.test_sync import assert_orders_match, assert_settlements_reconcile


def _on_postgresql(cfg: Config, dsn: str, raw_dir: str) -> Config:
    engine = dataclasses.replace(cfg.engine, db=dsn)
    poll = dataclasses.replace(cfg.poll, raw_dir=raw_dir)
    return dataclasses.replace(cfg, engine=engine, poll=poll)


async def _orders(target: str) -> dict[str, dict[str, Any]]:
    async with open_event_log(target, readonly=True) as log:
        return {e.key: e.payload async for e in log.read(streams=["amazon.orders"])}


async def test_sync_on_postgresql_posts_everything_exactly_once(make_world, pg_dsn, tmp_path):
    async with make_world() as w:
        cfg = _on_postgresql(w.config(), pg_dsn, str(tmp_path / "raw"))
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
            assert report.dispatched.get("parked", 0) == 0
        orders = await _orders(pg_dsn)
        assert len(orders) > 50
        assert_orders_match(w, orders)
        assert assert_settlements_reconcile(w) >= 3
        async with open_event_log(pg_dsn, readonly=True) as log:
            [(max_seq,)] = await log.query("SELECT max(seq) FROM commands")
            [(max_attempt,)] = await log.query("SELECT max(id) FROM attempts")
        async with w.engine(cfg) as eng:  # a second pass posts nothing already posted
            await eng.sync_once()
        async with open_event_log(pg_dsn, readonly=True) as log:
            reposted = await log.query(
                "SELECT c.command_id, a.outcome FROM attempts a JOIN commands c USING (command_id) "
                "WHERE a.id > ? AND c.seq <= ?",
                (max_attempt, max_seq),
            )
        assert reposted == []
        assert_orders_match(w, await _orders(pg_dsn))


async def test_a_postgresql_log_without_a_raw_dir_is_refused_before_any_poll(make_world, pg_dsn):
    async with make_world() as w:
        cfg = _on_postgresql(w.config(), pg_dsn, "")
        with pytest.raises(ConfigError, match=r"\[poll\] raw_dir must be set"):
            async with w.engine(cfg):
                pass
        assert w.qad.sales_orders() == []
