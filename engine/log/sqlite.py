"""The event log on SQLite through aiosqlite.

One writer connection (WAL, ``BEGIN IMMEDIATE``) serialised by an asyncio lock, and a separate
reader connection so long replays never block appends. An exclusive ``flock`` on ``<db>.lock``
makes a second writing process fail fast with a clear StoreBusy instead of interleaving.
UPDATE and DELETE on ``events`` are refused by triggers inside the database itself.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import aiosqlite
import orjson

from engine.errors import StoreBusy, StoreError
from engine.log.records import AppendResult, NewEvent, StoredEvent

__all__ = ["SQLiteEventLog", "encode_payload", "payload_digest"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY,
    stream      TEXT NOT NULL,
    type        TEXT NOT NULL,
    key         TEXT NOT NULL,
    digest      TEXT NOT NULL,
    payload     BLOB NOT NULL,
    source      TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_identity ON events (stream, key, digest);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key, position);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
CREATE TABLE IF NOT EXISTS tracking (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bookmarks (
    name  TEXT PRIMARY KEY,
    state BLOB NOT NULL
);
"""

_INSERT = (
    "INSERT OR IGNORE INTO events (stream, type, key, digest, payload, source, recorded_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SELECT = "SELECT position, stream, type, key, digest, payload, source, recorded_at FROM events"


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def encode_payload(payload: dict[str, Any]) -> bytes:
    """Canonical bytes of a payload: sorted keys, Decimal as string, UTC datetimes."""
    return orjson.dumps(payload, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)


def payload_digest(event_type: str, body: bytes) -> str:
    """Content digest deciding whether a re-fetched record is new."""
    h = hashlib.blake2b(body, digest_size=16, person=b"ml-connector")
    h.update(event_type.encode())
    return h.hexdigest()


def _row_to_event(row: sqlite3.Row | tuple[Any, ...]) -> StoredEvent:
    return StoredEvent(
        position=row[0],
        stream=row[1],
        type=row[2],
        key=row[3],
        digest=row[4],
        payload=orjson.loads(row[5]),
        source=row[6],
        recorded_at=datetime.fromisoformat(row[7]),
    )


class _SQLiteTransaction:
    """A write transaction on the writer connection (see ``ports.Transaction``)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        if not events:
            return AppendResult(0, 0, await self._head())
        now = datetime.now(UTC).isoformat()
        rows = []
        for ev in events:
            body = encode_payload(ev.payload)
            rows.append(
                (ev.stream, ev.type, ev.key, payload_digest(ev.type, body), body, ev.source, now)
            )
        before = self._db.total_changes
        await self._db.executemany(_INSERT, rows)
        appended = self._db.total_changes - before
        return AppendResult(appended, len(rows) - appended, await self._head())

    async def _head(self) -> int:
        async with self._db.execute("SELECT max(position) FROM events") as cur:
            row = await cur.fetchone()
        return int(row[0] or 0) if row else 0

    async def set_tracking(self, consumer: str, position: int) -> None:
        await self._db.execute(
            "INSERT INTO tracking (consumer, position) VALUES (?, ?) "
            "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
            (consumer, position),
        )

    async def set_bookmark(self, name: str, state: dict[str, Any]) -> None:
        await self._db.execute(
            "INSERT INTO bookmarks (name, state) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET state = excluded.state",
            (name, encode_payload(state)),
        )

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._db.execute(sql, params) as cur:
            return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._db.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._db.execute(sql, params) as cur:
            return [tuple(r) for r in await cur.fetchall()]


class SQLiteEventLog:
    """The append-only event log in one SQLite file (see ``engine.log.ports.EventLog``)."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection | None,
        reader: aiosqlite.Connection,
        lock_fd: int | None,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock_fd = lock_fd
        self._write_lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | Path,
        *,
        readonly: bool = False,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 10_000,
    ) -> AsyncIterator[Self]:
        """Open (creating if needed) the log at ``path``.

        A writing open takes an exclusive process lock; a second writer raises StoreBusy.
        ``readonly`` opens never create the file and may run beside a writer.
        """
        p = Path(path)
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise StoreError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        if readonly and not p.exists():
            raise StoreError(f"event log {p} does not exist")
        lock_fd = None if readonly else _take_writer_lock(p)
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            if not readonly:
                writer = await aiosqlite.connect(p, isolation_level=None)
                await writer.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                await writer.execute("PRAGMA journal_mode = WAL")
                await writer.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                await writer.executescript(SCHEMA)
            reader = await aiosqlite.connect(f"file:{p}?mode=ro", uri=True, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            log = cls(p, writer, reader, lock_fd)
        except sqlite3.DatabaseError as exc:
            await _close_quietly(writer, reader)
            _release_lock(lock_fd)
            raise StoreError(f"cannot open event log {p}: {exc}") from exc
        try:
            yield log
        finally:
            await _close_quietly(writer, reader)
            _release_lock(lock_fd)

    # -- writing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SQLiteTransaction]:
        """One ``BEGIN IMMEDIATE`` transaction; commit on success, rollback on any exception."""
        if self._writer is None:
            raise StoreError(f"event log {self.path} was opened read-only")
        async with self._write_lock:
            db = self._writer
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreBusy(f"event log {self.path} is locked: {exc}") from exc
            try:
                yield _SQLiteTransaction(db)
            except sqlite3.Error as exc:
                await db.execute("ROLLBACK")
                raise StoreError(f"write to {self.path} failed: {exc}") from exc
            except BaseException:
                # Also on CancelledError: never leave a half-written transaction open.
                await db.execute("ROLLBACK")
                raise
            try:
                await db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                await db.execute("ROLLBACK")
                raise StoreError(f"commit to {self.path} failed: {exc}") from exc

    async def append(
        self, events: Sequence[NewEvent], *, bookmark: tuple[str, dict[str, Any]] | None = None
    ) -> AppendResult:
        async with self.transaction() as tx:
            result = await tx.append(events)
            if bookmark is not None:
                await tx.set_bookmark(*bookmark)
        return result

    async def ensure_schema(self, ddl: str) -> None:
        if self._writer is None:
            raise StoreError(f"event log {self.path} was opened read-only")
        async with self._write_lock:
            await self._writer.executescript(ddl)

    # -- reading ---------------------------------------------------------------------------

    async def read(
        self, after: int = 0, *, streams: Sequence[str] | None = None, batch_size: int = 1000
    ) -> AsyncIterator[StoredEvent]:
        """Stream events after ``after`` in position order, one bounded batch at a time."""
        where = ""
        extra: tuple[Any, ...] = ()
        if streams:
            where = f" AND stream IN ({','.join('?' * len(streams))})"
            extra = tuple(streams)
        sql = f"{_SELECT} WHERE position > ?{where} ORDER BY position LIMIT ?"
        cursor = after
        while True:
            async with self._reader.execute(sql, (cursor, *extra, batch_size)) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            for row in rows:
                yield _row_to_event(row)
            cursor = rows[-1][0]
            if len(rows) < batch_size:
                return

    async def read_raw(
        self, after: int = 0, *, batch_size: int = 5000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Batches of raw rows (payload still bytes) for bulk consumers such as benchmarks."""
        sql = f"{_SELECT} WHERE position > ? ORDER BY position LIMIT ?"
        cursor = after
        while True:
            async with self._reader.execute(sql, (cursor, batch_size)) as cur:
                rows = [tuple(r) for r in await cur.fetchall()]
            if not rows:
                return
            yield rows
            cursor = rows[-1][0]

    async def history(self, stream: str | None, key: str) -> list[StoredEvent]:
        if stream is None:
            sql, params = f"{_SELECT} WHERE key = ? ORDER BY position", (key,)
        else:
            sql = f"{_SELECT} WHERE key = ? AND stream = ? ORDER BY position"
            params = (key, stream)  # type: ignore[assignment]
        async with self._reader.execute(sql, params) as cur:
            return [_row_to_event(r) for r in await cur.fetchall()]

    async def latest(self, stream: str, key: str) -> StoredEvent | None:
        """The newest version of one record."""
        sql = f"{_SELECT} WHERE key = ? AND stream = ? ORDER BY position DESC LIMIT 1"
        async with self._reader.execute(sql, (key, stream)) as cur:
            row = await cur.fetchone()
        return _row_to_event(row) if row else None

    async def head(self) -> int:
        async with self._reader.execute("SELECT max(position) FROM events") as cur:
            row = await cur.fetchone()
        return int(row[0] or 0) if row else 0

    async def tracking(self, consumer: str) -> int:
        async with self._reader.execute(
            "SELECT position FROM tracking WHERE consumer = ?", (consumer,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def bookmark(self, name: str) -> dict[str, Any] | None:
        async with self._reader.execute(
            "SELECT state FROM bookmarks WHERE name = ?", (name,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        state: dict[str, Any] = orjson.loads(row[0])
        return state

    async def stats(self) -> dict[str, Any]:
        async with self._reader.execute(
            "SELECT stream, type, count(*) FROM events GROUP BY stream, type ORDER BY stream, type"
        ) as cur:
            rows = await cur.fetchall()
        streams: dict[str, dict[str, int]] = {}
        for stream, etype, n in rows:
            streams.setdefault(stream, {})[etype] = n
        return {"head": await self.head(), "events": sum(r[2] for r in rows), "streams": streams}

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._reader.execute(sql, params) as cur:
            return [tuple(r) for r in await cur.fetchall()]


def _take_writer_lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreBusy(
            f"event log {path} is in use by another ml-connector process "
            "(stop it first, or open read-only)"
        ) from None
    return fd


def _release_lock(fd: int | None) -> None:
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def _close_quietly(*conns: aiosqlite.Connection | None) -> None:
    for conn in conns:
        if conn is not None:
            with suppress(sqlite3.Error):
                await conn.close()
