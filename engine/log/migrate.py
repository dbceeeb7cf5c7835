"""``log migrate``: copy an SQLite event log into a PostgreSQL one, position for position.

What is copied: every event exactly (position, stream, type, key, digest, payload bytes, source,
recorded_at), the bookmarks (the pollers' watermarks), and, with the ``Rooms`` the layers above
give (engine.ops.log_migrate), every table beside the log: the consumers' ``tracking``, the
outbox (commands, attempts, parks, intents, open commands), projection state, PII keys, the
deployment identity, flow health, order versions and freshness samples (engine.log.migrate_tables).
So an engine on the copy posts nothing already posted and derives nothing twice.

Safety: the source is opened read-only, under its writer lock (a running engine refuses the
copy: what it writes meanwhile would be lost). Events go in batches, each in one transaction
holding the PostgreSQL log's head row (as every appender does), inserted at their own
positions, the head moved to the last one; so the target stays gap-free and a normal append
afterwards gets head + 1. A target that already holds events must hold a prefix of the source
(same digest over those positions): the copy then resumes after it (an interrupted run), or
reports "already migrated"; any other content is refused with nothing written. The tables beside
the log go in one transaction after the events: a target already holding rows there is refused
(nothing written) unless they are the source's own (a copy run again). The end is verified: the
same event count and SHA-256 over every event's fields on both sides, the same rows in every
table (count and digest, before that transaction commits), the same trigger-kept counts.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import engine.log.files as files
import engine.log.migrate_tables as tables
from engine.errors import StoreBusy, StoreError
from engine.log.migrate_tables import MigrateError, Rooms
from engine.log.sqlite import SQLiteEventLog

__all__ = ["MigrateError", "MigrateReport", "Rooms", "migrate_log"]

# One statement per batch (arrays, not a row at a time): the count trigger of schema version 2
# then runs once per batch, as it does for an append.
_INSERT = (
    "INSERT INTO events (position, stream, type, key, digest, payload, source, recorded_at) "
    "SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], "
    "?::bytea[], ?::text[], ?::timestamptz[])"
)
_BOOKMARK = (
    "INSERT INTO bookmarks (name, state) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET state = excluded.state"
)


@dataclass(slots=True)
class MigrateReport:
    source_head: int
    copied: int = 0
    resumed_from: int = 0
    bookmarks: int = 0
    seconds: float = 0.0
    digest: str = ""
    status: str = ""  # migrated | already migrated | would copy
    # table beside the log -> rows copied (or, in a dry run, that would be)
    tables: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]  # (what: "events" or a table, done, total)


def _utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)


def _feed(h: Any, row: tuple[Any, ...]) -> None:
    """One event into a running digest: every field, recorded_at normalised to UTC."""
    pos, stream, etype, key, digest, payload, source, recorded = row
    head = "\x1f".join((str(pos), stream, etype, key, digest, source, _utc(recorded).isoformat()))
    h.update(head.encode())
    h.update(bytes(payload))
    h.update(b"\x1e")


async def _digest(batches: AsyncIterator[list[tuple[Any, ...]]], upto: int | None = None) -> str:
    h = hashlib.sha256()
    async for rows in batches:
        for row in rows:
            if upto is not None and int(row[0]) > upto:
                return h.hexdigest()
            _feed(h, row)
    return h.hexdigest()


async def migrate_log(
    source: Path,
    dsn: str,
    *,
    batch_size: int = 5000,
    dry_run: bool = False,
    progress: Progress | None = None,
    rooms: Rooms | None = None,
    namespace: str | None = None,
) -> MigrateReport:
    """Copy ``source`` into the PostgreSQL log at ``dsn`` (in schema ``namespace``; module doc).

    Without ``rooms`` only the log itself (events, bookmarks, tracking) can go: a source that
    holds anything else is refused, since an engine on the copy would post it all again."""
    from engine.log.postgres import PostgresEventLog  # psycopg: the optional extra
    from engine.log.postgres_schema import NoEventLog

    async with SQLiteEventLog.open(source, readonly=True) as src:
        report = MigrateReport(source_head=await src.head())
        if dry_run:
            try:
                async with PostgresEventLog.open(dsn, readonly=True, namespace=namespace) as dst:
                    await _check_target(src, dst, source, report, batch_size)
            except NoEventLog:
                pass  # an empty database: everything would be copied
            report.copied = report.source_head - report.resumed_from
            report.tables = await _source_counts(src, rooms)
            report.status = "would copy"
            return report
        lock = _lock_source(source)
        try:
            async with PostgresEventLog.open(dsn, namespace=namespace) as dst:
                await _migrate(src, dst, source, report, batch_size, progress, rooms)
        finally:
            files.release_lock(lock)
        return report


def _lock_source(source: Path) -> int | None:
    """The source's writer lock: no engine may write it while it is copied. A folder no one may
    write holds no writer (it could not create its -wal), so there none is needed."""
    try:
        return files.take_writer_lock(source)
    except StoreBusy:
        raise
    except StoreError:
        if os.access(source.parent, os.W_OK, effective_ids=True):
            raise
        return None


async def _source_counts(src: SQLiteEventLog, rooms: Rooms | None) -> dict[str, int]:
    kept = rooms.kept if rooms is not None else {}
    counts = {}
    for name in await tables.source_tables(src):
        if name not in tables.LOG_TABLES and name not in kept:
            [(n,)] = await src.query(f"SELECT count(*) FROM {tables.quoted(name)}")
            counts[name] = int(n)
    return counts


async def _migrate(
    src: SQLiteEventLog,
    dst: Any,
    source: Path,
    report: MigrateReport,
    batch_size: int,
    progress: Progress | None,
    rooms: Rooms | None,
) -> None:
    target_head = await _check_target(src, dst, source, report, batch_size)
    kept = rooms.kept if rooms is not None else {}
    before = await dst.tables()
    if rooms is not None:
        await rooms.ensure(dst)  # the rooms' own DDL; idempotent, no rows
    plan = await tables.plan(src, dst, str(source), kept)
    room_tables = (await dst.tables()) - tables.LOG_TABLES - set(kept)
    empty, differ = await tables.state_of(src, dst, plan, room_tables, batch_size)
    if differ:
        raise MigrateError(
            f"{dst.label} already holds rows beside its events that are not {source}'s "
            f"({', '.join(differ[:5])}): migrate into an empty database; nothing written"
        )
    started = time.monotonic()
    await _copy(src, dst, report, target_head, batch_size, progress)
    bookmarks = await src.query("SELECT name, state FROM bookmarks ORDER BY name")
    async with dst.transaction() as tx:
        await tx.executemany(_BOOKMARK, [(n, bytes(s)) for n, s in bookmarks])
    report.bookmarks = len(bookmarks)
    if empty and any(t.rows for t in plan):
        report.tables = await tables.copy_tables(
            src, dst, plan, kept, batch=batch_size, progress=progress
        )
        if rooms is not None:
            await _derive_missing(src, dst, rooms, room_tables - before)
    report.seconds = time.monotonic() - started
    report.digest = await _digest(src.read_raw(batch_size=batch_size))
    if await _digest(dst.read_raw(batch_size=batch_size)) != report.digest:
        raise MigrateError(f"{dst.label} does not read back as {source} after the copy")
    if await dst.head() != report.source_head:
        raise MigrateError(f"{dst.label} head is not {report.source_head} after the copy")
    if await tables.kept_differ(src, dst.query, tables.LOG_KEPT):
        raise MigrateError(f"{dst.label} counts its events unlike {source} (run `log check`)")
    report.status = "migrated" if report.copied or report.tables else "already migrated"


async def _derive_missing(src: SQLiteEventLog, dst: Any, rooms: Rooms, created: set[str]) -> None:
    """Tables the source predates (an outbox from before ``open_commands``, say) were made empty
    by this run's ``ensure`` before the copy: made again now, their room fills them from the
    copied history, as the engine's next open of the SQLite file would have."""
    lacking = created - set(await tables.source_tables(src)) - set(rooms.kept)
    if lacking:
        names = ", ".join(f'"{n}"' for n in sorted(lacking))
        await dst.ensure_schema(f"DROP TABLE IF EXISTS {names};", native=True)
        await rooms.ensure(dst)


async def _check_target(
    src: SQLiteEventLog, dst: Any, source: Path, report: MigrateReport, batch_size: int
) -> int:
    """The target's head, after proving its events are the source's first ones."""
    target_head = int(await dst.head())
    if target_head > report.source_head:
        raise MigrateError(
            f"{dst.label} holds {target_head} events, more than {source} "
            f"({report.source_head}): not a copy of it; nothing written"
        )
    if target_head:
        want = await _digest(src.read_raw(batch_size=batch_size), upto=target_head)
        if await _digest(dst.read_raw(batch_size=batch_size)) != want:
            raise MigrateError(
                f"{dst.label} holds {target_head} events that differ from the first "
                f"{target_head} of {source}; nothing written"
            )
    report.resumed_from = target_head
    return target_head


async def _copy(
    src: SQLiteEventLog,
    dst: Any,
    report: MigrateReport,
    after: int,
    batch_size: int,
    progress: Progress | None,
) -> None:
    expected = after
    async for rows in src.read_raw(after, batch_size=batch_size):
        columns: list[list[Any]] = [[] for _ in range(8)]
        for pos, stream, etype, key, digest, payload, source, recorded in rows:
            if int(pos) != expected + 1:
                raise MigrateError(
                    f"the source log has a gap before position {pos} (run `log check`)"
                )
            expected = int(pos)
            row = (int(pos), stream, etype, key, digest, bytes(payload), source, _utc(recorded))
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        async with dst.transaction() as tx:
            (head,) = (await tx.fetchall("SELECT position FROM log_head WHERE id = 1 FOR UPDATE"))[
                0
            ]
            if int(head) != int(columns[0][0]) - 1:
                raise MigrateError(f"{dst.label} was appended to during the copy; run it again")
            await tx.execute(_INSERT, columns)
            await tx.execute("UPDATE log_head SET position = ? WHERE id = 1", (expected,))
        report.copied += len(rows)
        if progress is not None:
            progress("events", expected, report.source_head)
