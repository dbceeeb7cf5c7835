"""PostgreSQL-only guarantees of the event log: schema versions, database-side guards, the
head-row lock, connection errors, the SQLite-dialect translation (real throwaway clusters,
tests/pg_fixture.py; skipped with the reason where no server can start)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.errors import StoreBusy, StoreError
from engine.log import NewEvent
from engine.log.postgres_sql import translate, translate_ddl
from tests.log.tailing import batch_total, tail_while_writing

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")
from engine.log.postgres import PostgresEventLog  # noqa: E402


def ev(key: str, n: int = 0) -> NewEvent:
    return NewEvent("amazon.orders", "OrderFetched", key, {"n": n}, "t")


def raw(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


async def test_negative_control_sequence_numbering_lets_a_tailing_reader_skip(
    pg_dsn: str,
) -> None:
    """The reader check can fail: positions from a sequence, without the head-row lock (the
    naive design), commit out of order and the same harness reports skipped positions."""
    async with PostgresEventLog.open(pg_dsn) as log:
        raw(pg_dsn, "CREATE SEQUENCE naive_positions")

        calls = 0

        async def naive_append(_log: Any, events: list[NewEvent], hold_s: float) -> None:
            nonlocal calls
            calls += 1
            first = calls == 1
            async with log._pool.connection() as conn, conn.transaction():
                for e in events:
                    await conn.execute(
                        "INSERT INTO events VALUES (nextval('naive_positions'), %s, %s, %s, %s, "
                        "'{}'::bytea, '', now())",
                        (e.stream, e.type, e.key, e.key),
                    )
                # The first batch commits late: the other writers' later positions commit and
                # are read meanwhile (a slow writer, not a guess).
                await asyncio.sleep(0.3 if first else hold_s)

        _seen, violations = await tail_while_writing(
            log, [log] * 6, batches=20, append=naive_append
        )
    assert violations, "the naive design should have let the reader skip a position"


async def test_the_same_harness_with_the_engine_sees_every_position(pg_dsn: str) -> None:
    async with (
        PostgresEventLog.open(pg_dsn) as log,
        PostgresEventLog.open(pg_dsn) as other,
    ):
        seen, violations = await tail_while_writing(log, [log, other] * 3, batches=20)
    assert violations == [] and seen == list(range(1, batch_total(6, 20) + 1))


async def test_a_newer_schema_is_refused_untouched(pg_dsn: str) -> None:
    async with PostgresEventLog.open(pg_dsn) as log:
        await log.append([ev("A")])
    raw(pg_dsn, "INSERT INTO schema_version (version) VALUES (99)")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="schema version 99, newer than this ml-connector"):
            async with PostgresEventLog.open(pg_dsn, readonly=readonly):
                pass
    assert raw(pg_dsn, "SELECT count(*) FROM events") == [(1,)]
    assert raw(pg_dsn, "SELECT max(version) FROM schema_version") == [(99,)]


async def test_migrations_are_versioned_and_run_once_under_concurrent_opens(pg_dsn: str) -> None:
    async def open_and_append(tag: str) -> None:
        async with PostgresEventLog.open(pg_dsn) as log:
            await log.append([ev(tag)])

    await asyncio.gather(*(open_and_append(f"k{i}") for i in range(4)))
    assert raw(pg_dsn, "SELECT version FROM schema_version ORDER BY 1") == [(1,), (2,)]
    assert raw(pg_dsn, "SELECT position FROM log_head") == [(4,)]


async def test_a_foreign_events_table_and_an_empty_read_only_open_are_refused(
    pg_dsn: str,
) -> None:
    with pytest.raises(StoreError, match="empty database, not an event log"):
        async with PostgresEventLog.open(pg_dsn, readonly=True):
            pass
    raw(pg_dsn, "CREATE TABLE events (id int PRIMARY KEY, what text)")
    with pytest.raises(StoreError, match="not an ml-connector event log"):
        async with PostgresEventLog.open(pg_dsn):
            pass
    assert raw(pg_dsn, "SELECT to_regclass('schema_version') IS NULL") == [(True,)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET key = 'z'",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE log_head SET position = 0",
        "DELETE FROM log_head",
    ],
)
async def test_the_database_refuses_rewriting_history_from_any_client(
    pg_dsn: str, statement: str
) -> None:
    async with PostgresEventLog.open(pg_dsn) as log:
        await log.append([ev("A"), ev("B")])
    with pytest.raises(psycopg.errors.RaiseException, match="refused"):
        raw(pg_dsn, statement)
    assert raw(pg_dsn, "SELECT count(*) FROM events") == [(2,)]
    assert raw(pg_dsn, "SELECT position FROM log_head") == [(2,)]


async def test_a_guard_dropped_by_hand_is_back_at_the_next_open(pg_dsn: str) -> None:
    async with PostgresEventLog.open(pg_dsn) as log:
        await log.append([ev("A")])
    raw(pg_dsn, "DROP TRIGGER events_no_delete ON events")
    async with PostgresEventLog.open(pg_dsn) as log:
        with pytest.raises(StoreError, match="append-only"):
            async with log.transaction() as tx:
                await tx.execute("DELETE FROM events")
        assert await log.head() == 1


async def test_read_only_log_refuses_writes_but_reads_beside_a_writer(pg_dsn: str) -> None:
    async with PostgresEventLog.open(pg_dsn) as log:
        await log.append([ev("A")])
        async with PostgresEventLog.open(pg_dsn, readonly=True) as ro:
            assert await ro.head() == 1
            with pytest.raises(StoreError, match="read-only"):
                async with ro.transaction():
                    pass
            with pytest.raises(StoreError, match="read-only"):
                await ro.ensure_schema("CREATE TABLE IF NOT EXISTS x (a TEXT)")


async def test_a_writer_waiting_past_lock_timeout_gets_store_busy(pg_dsn: str) -> None:
    async with (
        PostgresEventLog.open(pg_dsn) as holder,
        PostgresEventLog.open(pg_dsn, lock_timeout_s=0.2) as impatient,
    ):
        async with holder.transaction() as tx:
            await tx.append([ev("A")])  # holds the head row until commit
            with pytest.raises(StoreBusy, match="lock timeout"):
                await impatient.append([ev("B")])
            # A transaction writing no events does not wait for the head row.
            async with impatient.transaction() as other:
                await other.set_tracking("p", 0)
        assert (await impatient.append([ev("B")])).head == 2


async def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    dsn = "postgresql://mlc:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as info:
        async with PostgresEventLog.open(dsn, connect_timeout_s=2):
            pass
    message = str(info.value)
    assert message.startswith("cannot open event log postgresql://127.0.0.1:1/nowhere")
    assert "s3cret-pw" not in message and "\n" not in message


def test_sqlite_statements_are_translated_outside_quotes_and_comments() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c LIKE 'x?%'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x?%%'"
    )
    assert translate("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s)\nON CONFLICT DO NOTHING"
    )
    assert translate("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING a") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING RETURNING a"
    )
    assert translate_ddl("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)") == (
        "CREATE TABLE IF NOT EXISTS t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "b BYTEA)"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT OR REPLACE INTO t VALUES (?)",
        "SELECT changes()",
        "SELECT json_extract(body, '$.a') FROM t",
        "SELECT datetime('now')",
        "PRAGMA user_version",
    ],
)
def test_sqlite_only_constructs_are_refused_not_guessed(sql: str) -> None:
    with pytest.raises(StoreError, match="not supported on the PostgreSQL log"):
        translate(sql)
