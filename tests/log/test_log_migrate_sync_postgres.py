"""``log migrate`` of a log an engine has synced: the engine then syncs on PostgreSQL and posts
nothing already posted, derives nothing twice, and status reads the same on both sides (both
simulators over real HTTP, a real SQLite file, a throwaway PostgreSQL cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.commands.outbox import Outbox
from engine.log.opening import open_event_log
from engine.ops.status import collect_status
from engine.ops.tenant_lease import log_identity
from tests.e2e.conftest import make_world  # noqa: F401  (the fixture, shared with tests/e2e)
from tests.e2e.test_sync import assert_orders_match
from tests.e2e.test_sync_postgres import _on_postgresql

pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")
from engine.ops.log_migrate import migrate_to_postgresql


async def _books(target: str | Path) -> dict[str, Any]:
    """What must be equal on both sides: status (less its db label and the clock-relative
    freshness windows), the outbox counts, the consumers' positions, the newest ids."""
    async with open_event_log(target, readonly=True) as log:
        status = await collect_status(log)
        counts = await Outbox(log).counts()
        tracking = sorted(await log.query("SELECT consumer, position FROM tracking"))
        [(max_seq, max_attempt, commands)] = await log.query(
            "SELECT (SELECT max(seq) FROM commands), (SELECT max(id) FROM attempts), "
            "(SELECT count(*) FROM commands)"
        )
        identity = await log.query("SELECT key, value FROM deployment")
        keys = await log.query("SELECT count(*) FROM pii_keys")
    del status["db"], status["freshness"]
    return {
        "status": status,
        "counts": counts,
        "tracking": tracking,
        "max_seq": max_seq,
        "max_attempt": max_attempt,
        "commands": commands,
        "identity": identity,
        "pii_keys": keys,
    }


async def test_a_synced_log_migrated_syncs_on_postgresql_without_posting_again(
    make_world: Any,  # noqa: F811
    pg_dsn: str,
    tmp_path: Path,
) -> None:
    async with make_world() as w:
        cfg = w.config()
        db = Path(cfg.engine.db)
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
            assert report.dispatched.get("parked", 0) == 0
        async with open_event_log(db) as log:  # the deployment identity, as a tenant claim mints
            log_id = await log_identity(log)
        before = await _books(db)
        assert before["commands"] > 50 and before["max_attempt"] >= before["commands"]
        sales_orders = len(w.qad.sales_orders())

        migrated = await migrate_to_postgresql(db, pg_dsn, batch_size=40)
        assert migrated.status == "migrated"
        assert migrated.tables["commands"] == before["commands"]
        assert migrated.tables["attempts"] == before["max_attempt"]
        after = await _books(pg_dsn)
        assert after == before  # status, counts, tracking, ids, identity all read the same
        assert after["identity"] == [("log_id", log_id)]

        head = migrated.source_head
        pg = _on_postgresql(cfg, pg_dsn, str(tmp_path / "raw"))
        async with w.engine(pg) as eng:
            again = await eng.sync_once()
            assert not again.poll_errors, again.poll_errors
        async with open_event_log(pg_dsn, readonly=True) as log:
            reposted = await log.query(
                "SELECT c.command_id, a.outcome FROM attempts a JOIN commands c USING (command_id) "
                "WHERE a.id > ? AND c.seq <= ?",
                (before["max_attempt"], before["max_seq"]),
            )
            [(new_head,)] = await log.query("SELECT max(position) FROM events")
            tracking = dict(await log.query("SELECT consumer, position FROM tracking"))
        assert reposted == []  # no old command was attempted again
        # Derived nothing twice: each projector went on from its copied position, so it read
        # at most the events appended on PostgreSQL (a lost position would re-read them all).
        assert all(tracking[c] >= p for c, p in before["tracking"])
        assert again.projected <= len(tracking) * (new_head - head)
        assert len(w.qad.sales_orders()) >= sales_orders
        async with open_event_log(pg_dsn, readonly=True) as log:
            orders = {e.key: e.payload async for e in log.read(streams=["amazon.orders"])}
        assert_orders_match(w, orders)  # every order once in QAD, none duplicated
