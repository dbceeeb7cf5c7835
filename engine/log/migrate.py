"""``log migrate``: copy an SQLite event log into a PostgreSQL one, position for position.

What is copied: every event exactly (position, stream, type, key, digest, payload bytes, source,
recorded_at) and the bookmarks (the pollers' watermarks, so pollers on PostgreSQL continue
where the SQLite ones stopped). What is not: the consumer ``tracking`` positions and the rooms
beside the log (outbox commands and attempts, projection state, PII keys, flow health), because
their PostgreSQL form is not built yet (issue 20): a projector's position without its state
would skip work. Until then the SQLite file stays the deployment's source of truth; this copy
is for preparing and verifying a move, and it can be repeated.

Safety: the source is opened read-only. Rows go in batches, each in one transaction holding
the PostgreSQL log's head row (as every appender does), inserted at their own positions, the
head moved to the last one; so the target stays gap-free and a normal append afterwards gets
head + 1. A target that already holds events must hold a prefix of the source (same digest
over those positions): the copy then resumes after it (an interrupted run), or reports
"already migrated"; any other content is refused with nothing written. The end is verified: the
same event count and the same SHA-256 over every event's fields on both sides.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.log.sqlite import SQLiteEventLog

__all__ = ["MigrateError", "MigrateReport", "migrate_log"]

_INSERT = (
    "INSERT INTO events (position, stream, type, key, digest, payload, source, recorded_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_BOOKMARK = (
    "INSERT INTO bookmarks (name, state) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET state = excluded.state"
)


class MigrateError(EngineError):
    """The copy cannot be made (exit 2): the message says why; nothing more was written."""


@dataclass(slots=True)
class MigrateReport:
    source_head: int
    copied: int = 0
    resumed_from: int = 0
    bookmarks: int = 0
    seconds: float = 0.0
    digest: str = ""
    status: str = ""  # migrated | already migrated | would copy


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
    progress: Callable[[int, int], None] | None = None,
) -> MigrateReport:
    """Copy ``source`` into the PostgreSQL log at ``dsn`` (see the module doc)."""
    from engine.log.postgres import PostgresEventLog  # psycopg: the optional extra
    from engine.log.postgres_schema import NoEventLog

    async with SQLiteEventLog.open(source, readonly=True) as src:
        report = MigrateReport(source_head=await src.head())
        if dry_run:
            try:
                async with PostgresEventLog.open(dsn, readonly=True) as dst:
                    await _check_target(src, dst, source, report, batch_size)
            except NoEventLog:
                pass  # an empty database: everything would be copied
            report.copied = report.source_head - report.resumed_from
            report.status = "would copy"
            return report
        async with PostgresEventLog.open(dsn) as dst:
            target_head = await _check_target(src, dst, source, report, batch_size)
            started = time.monotonic()
            await _copy(src, dst, report, target_head, batch_size, progress)
            bookmarks = await src.query("SELECT name, state FROM bookmarks ORDER BY name")
            async with dst.transaction() as tx:
                await tx.executemany(_BOOKMARK, [(n, bytes(s)) for n, s in bookmarks])
            report.bookmarks = len(bookmarks)
            report.seconds = time.monotonic() - started
            report.digest = await _digest(src.read_raw(batch_size=batch_size))
            if await _digest(dst.read_raw(batch_size=batch_size)) != report.digest:
                raise MigrateError(f"{dst.label} does not read back as {source} after the copy")
            if await dst.head() != report.source_head:
                raise MigrateError(f"{dst.label} head is not {report.source_head} after the copy")
            report.status = "migrated" if report.copied else "already migrated"
            return report


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
    progress: Callable[[int, int], None] | None,
) -> None:
    expected = after
    async for rows in src.read_raw(after, batch_size=batch_size):
        batch = []
        for pos, stream, etype, key, digest, payload, source, recorded in rows:
            if int(pos) != expected + 1:
                raise MigrateError(
                    f"the source log has a gap before position {pos} (run `log check`)"
                )
            expected = int(pos)
            batch.append((pos, stream, etype, key, digest, bytes(payload), source, _utc(recorded)))
        async with dst.transaction() as tx:
            (head,) = (await tx.fetchall("SELECT position FROM log_head WHERE id = 1 FOR UPDATE"))[
                0
            ]
            if int(head) != int(batch[0][0]) - 1:
                raise MigrateError(f"{dst.label} was appended to during the copy; run it again")
            await tx.executemany(_INSERT, batch)
            await tx.execute("UPDATE log_head SET position = ? WHERE id = 1", (expected,))
        report.copied += len(batch)
        if progress is not None:
            progress(expected, report.source_head)
