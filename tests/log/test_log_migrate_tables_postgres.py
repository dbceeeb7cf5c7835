"""``log migrate``'s tables beside the log: copied whole in one verified transaction, ids moved
past the copy, a non-empty or foreign target refused with nothing written, a running engine's
log refused, an outbox older than its derived tables derived on the copy as SQLite would (real
SQLite files built with the engine's own rooms, a throwaway PostgreSQL cluster)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import engine.log.migrate_tables as migrate_tables
from engine.commands.outbox import Outbox
from engine.commands.records import AttemptRecord
from engine.commands.vocabulary import Park, make_command
from engine.errors import StoreBusy
from engine.log import NewEvent, SQLiteEventLog
from engine.log.migrate import MigrateError
from engine.log.opening import open_event_log
from engine.ops.log_migrate import ensure_rooms
from engine.ops.tenant_lease import log_identity

pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")
from engine.ops.log_migrate import migrate_to_postgresql

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
TABLES = (
    "commands", "attempts", "parked_records", "projection_state", "open_commands",
    "sent_references", "pii_keys", "deployment", "tracking", "command_state_counts",
)  # fmt: skip


async def build_source(path: Path, orders: int = 30) -> str:
    """A log with every room: events, commands (half posted), parks, state, a PII key."""
    async with SQLiteEventLog.open(path) as log:
        await ensure_rooms(log)
        outbox = Outbox(log, clock=lambda: NOW)
        events = [
            NewEvent("amazon.orders", "OrderFetched", f"O{i}", {"i": i}, "sp-api:NA:searchOrders")
            for i in range(orders)
        ]
        result = await log.append(events)
        commands = [
            make_command("qad.sales_order.create", "qad", f"O{i}", f"AMZ-O{i}", {"i": i}, (i + 1,))
            for i in range(orders)
        ]
        async with log.transaction() as tx:
            await outbox.add_commands(tx, commands, "orders")
            await outbox.add_park(tx, Park("O0", 1, "unmapped SKU"), "orders")
            await tx.executemany(
                "INSERT INTO projection_state (projector, key, state) VALUES (?, ?, ?)",
                [("orders", f"O{i}", b'{"v":1}') for i in range(orders)],
            )
            await tx.set_tracking("projector:orders", result.head)
            await tx.execute(
                "INSERT INTO pii_keys (key_id, created_at, wrapped, record_date) "
                "VALUES ('k1', '2026-05-01T00:00:00Z', ?, NULL)",
                (b"\x00wrapped\xff",),
            )
        await outbox.record_intents(commands[: orders // 2])
        for cmd in commands[: orders // 2]:
            await outbox.record_attempt(
                AttemptRecord(cmd.command_id, NOW, "qad", "POST", "201", "ok", document="SO1")
            )
        return await log_identity(log)


async def rows(target: str | Path, table: str) -> list[tuple[Any, ...]]:
    async with open_event_log(target, readonly=True) as log:
        found = await log.query(f"SELECT * FROM {table}")
    return sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in found)


async def test_every_room_is_copied_verified_and_ids_go_on(tmp_path: Path, pg_dsn: str) -> None:
    src = tmp_path / "log.db"
    log_id = await build_source(src)
    seen: list[tuple[str, int, int]] = []
    report = await migrate_to_postgresql(
        src, pg_dsn, batch_size=7, progress=lambda *p: seen.append(p)
    )
    assert report.status == "migrated" and report.copied == 30
    assert report.tables["commands"] == 30 and report.tables["attempts"] == 15
    assert ("commands", 30, 30) in seen and ("events", 30, 30) in seen
    assert ("attempts", 7, 15) in seen  # batch by batch
    for table in TABLES:
        assert await rows(pg_dsn, table) == await rows(src, table), table
    async with SQLiteEventLog.open(src, readonly=True) as log:
        counts = await Outbox(log).counts()
    async with open_event_log(pg_dsn) as log:
        outbox = Outbox(log, clock=lambda: NOW)
        assert await outbox.counts() == counts
        pending = await outbox.pending(limit=100)
        assert len(pending) == 15  # the unposted half only
        assert await log_identity(log) == log_id  # the same deployment, not a new one
        # The copied ids are taken: the next attempt and park get the ids after them.
        await outbox.record_attempt(
            AttemptRecord(pending[0].command.command_id, NOW, "qad", "POST", "201", "ok")
        )
        async with log.transaction() as tx:
            await outbox.add_park(tx, Park("O9", 9, "unmapped SKU"), "orders")
        assert await log.query("SELECT max(id) FROM attempts") == [(16,)]
        assert await log.query("SELECT max(id) FROM parked_records") == [(2,)]


async def test_a_second_run_is_already_migrated_and_a_grown_outbox_is_refused(
    tmp_path: Path, pg_dsn: str
) -> None:
    src = tmp_path / "log.db"
    await build_source(src)
    await migrate_to_postgresql(src, pg_dsn)
    again = await migrate_to_postgresql(src, pg_dsn)
    assert (again.status, again.copied, again.tables) == ("already migrated", 0, {})
    assert len(await rows(pg_dsn, "commands")) == 30
    # The SQLite engine ran on: more events AND a new attempt; the copy cannot be merged.
    async with SQLiteEventLog.open(src) as log:
        await log.append([NewEvent("amazon.orders", "OrderFetched", "NEW", {"n": 1}, "t")])
        [(command_id,)] = await log.query(
            "SELECT command_id FROM open_commands ORDER BY seq LIMIT 1"
        )
        await Outbox(log).record_attempt(AttemptRecord(command_id, NOW, "qad", "POST", "201", "ok"))
    with pytest.raises(
        MigrateError, match=r"already holds rows .* attempts \(15 rows, the source 16\)"
    ):
        await migrate_to_postgresql(src, pg_dsn)
    async with open_event_log(pg_dsn, readonly=True) as log:
        assert await log.head() == 30  # nothing written, not even the new event


async def test_a_foreign_table_or_rows_on_the_target_are_refused_untouched(
    tmp_path: Path, pg_dsn: str, pg_cluster: Any
) -> None:
    src = tmp_path / "log.db"
    await build_source(src)
    async with open_event_log(pg_dsn) as log:  # someone else's outbox row on the target
        await ensure_rooms(log)
        async with log.transaction() as tx:
            await tx.execute(
                "INSERT INTO flow_success (flow, at) VALUES ('orders:NA', '2026-01-01T00:00:00Z')"
            )
    with pytest.raises(MigrateError, match="already holds rows beside its events"):
        await migrate_to_postgresql(src, pg_dsn)
    assert await rows(pg_dsn, "commands") == []
    other = tmp_path / "other.db"
    await build_source(other, orders=2)
    async with SQLiteEventLog.open(other) as log:
        await log.ensure_schema("CREATE TABLE IF NOT EXISTS mystery (id INTEGER PRIMARY KEY);")
    fresh = pg_cluster.new_database()
    with pytest.raises(MigrateError, match="table\\(s\\) mystery that no part"):
        await migrate_to_postgresql(other, fresh, namespace="seller_a")
    async with open_event_log(fresh, readonly=True, namespace="seller_a") as log:
        assert await log.head() == 0


async def test_a_log_held_by_an_engine_is_refused(tmp_path: Path, pg_dsn: str) -> None:
    src = tmp_path / "log.db"
    await build_source(src)
    async with SQLiteEventLog.open(src):  # a writer, as a running engine holds it
        with pytest.raises(StoreBusy, match="in use by another ml-connector process"):
            await migrate_to_postgresql(src, pg_dsn)
    dry = await migrate_to_postgresql(src, pg_dsn, dry_run=True)  # a dry run only reads
    assert dry.status == "would copy" and dry.tables["commands"] == 30


async def test_an_outbox_older_than_its_intents_is_derived_on_the_copy(
    tmp_path: Path, pg_dsn: str
) -> None:
    """A log last written before ``sent_references`` and ``open_commands`` existed: the copy
    gets them derived from the copied history, as the next SQLite open would derive them."""
    src = tmp_path / "log.db"
    await build_source(src)
    async with SQLiteEventLog.open(src) as log:
        await log.ensure_schema("DROP TABLE sent_references; DROP TABLE open_commands;")
    report = await migrate_to_postgresql(src, pg_dsn)
    assert report.status == "migrated"
    # Every stored command counts as possibly sent (INTENT_FILL); only the unposted are open.
    assert len(await rows(pg_dsn, "sent_references")) == 30
    assert len(await rows(pg_dsn, "open_commands")) == 15


async def test_a_copy_that_does_not_read_back_keeps_nothing_beside_the_log(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "log.db"
    await build_source(src)

    async def differ(*_: Any) -> list[str]:
        return ["command_state_counts"]

    monkeypatch.setattr(migrate_tables, "kept_differ", differ)
    with pytest.raises(MigrateError, match="command_state_counts counted on PostgreSQL differ"):
        await migrate_to_postgresql(src, pg_dsn)
    assert await rows(pg_dsn, "commands") == [] and await rows(pg_dsn, "tracking") == []
    monkeypatch.undo()
    report = await migrate_to_postgresql(src, pg_dsn)  # run again: the events are resumed
    assert (report.status, report.resumed_from, report.tables["commands"]) == ("migrated", 30, 30)
