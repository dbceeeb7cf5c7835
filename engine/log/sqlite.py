"""The event log on SQLite through aiosqlite.

One writer connection (WAL, ``BEGIN IMMEDIATE``) serialised by an asyncio lock, and a separate
reader connection so long replays never block appends. An exclusive ``flock`` on ``<db>.lock``
makes a second writing process fail fast with a clear StoreBusy instead of interleaving.
UPDATE and DELETE on ``events`` are refused by triggers inside the database itself.

Opening checks the file cheaply (header, schema version, schema shape; see ``files`` and
``schema``) and migrates it when writing; the O(n) page check is ``backup.check`` (``log check``).
Every SQLite failure surfaces as one StoreError line carrying SQLite's own message.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import aiosqlite
import orjson

import engine.log.files as files
import engine.log.schema as schema
from engine.errors import StoreBusy, StoreError
from engine.log.files import secure_umask
from engine.log.records import AppendResult, NewEvent, StoredEvent

__all__ = ["SQLiteEventLog", "encode_payload", "payload_digest", "secure_umask"]

# SQLite primary result codes that mean "someone else holds the lock", not "broken".
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

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

        A writing open takes an exclusive process lock; a second writer raises StoreBusy. It
        creates the file 0600 and migrates an older schema. ``readonly`` opens never create the
        file and may run beside a writer. Either refuses with one StoreError line a directory, an
        empty, truncated or non-SQLite file, a foreign database, or a newer schema version.
        """
        p = Path(path)
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise StoreError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        files.check_db_path(p, readonly=readonly)
        lock_fd = None if readonly else files.take_writer_lock(p)
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            if not readonly:
                # Created 0600 by us, never by SQLite (which would use 0644 under umask 022);
                # -wal and -shm inherit this mode.
                files.create_private(p)
            files.warn_loose_modes(p)
            if not readonly:
                writer = await aiosqlite.connect(p, isolation_level=None)
                await writer.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                # Before the first write (journal_mode writes the header): a newer or foreign
                # file must be refused untouched.
                version = await schema.inspect(writer, p)
                await writer.execute("PRAGMA journal_mode = WAL")
                await writer.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                await schema.migrate(writer, p, version)
                await writer.executescript(schema.GUARDS_DDL)
            reader = await aiosqlite.connect(
                files.sqlite_uri(p, files.reader_mode(p, readonly=readonly)),
                uri=True,
                isolation_level=None,
            )
            await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if readonly and await schema.inspect(reader, p) is None:
                raise StoreError(f"event log {p} is an empty database, not an event log")
            log = cls(p, writer, reader, lock_fd)
        except BaseException as exc:
            await _close_quietly(reader, writer)
            files.release_lock(lock_fd)
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open event log {p}: {exc}") from exc
            raise
        try:
            yield log
        finally:
            # Reader first: the writer closing last checkpoints and removes -wal and -shm.
            await _close_quietly(reader, writer)
            files.release_lock(lock_fd)

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
            except sqlite3.Error as exc:
                # Errors raised by the sqlite3 module itself (closed connection) carry no code.
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _BUSY_CODES:
                    raise StoreBusy(f"event log {self.path} is locked: {exc}") from exc
                raise StoreError(f"cannot write to event log {self.path}: {exc}") from exc
            try:
                yield _SQLiteTransaction(db)
            except sqlite3.Error as exc:
                await _rollback(db)
                raise StoreError(f"write to {self.path} failed: {exc}") from exc
            except BaseException:
                # Also on CancelledError: never leave a half-written transaction open.
                await _rollback(db)
                raise
            try:
                await db.execute("COMMIT")
            except sqlite3.Error as exc:
                await _rollback(db)
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
            try:
                await self._writer.executescript(ddl)
            except sqlite3.Error as exc:
                await _rollback(self._writer)
                raise StoreError(f"schema change on {self.path} failed: {exc}") from exc

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
            rows = await self.query(sql, (cursor, *extra, batch_size))
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
            rows = await self.query(sql, (cursor, batch_size))
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
        return [_row_to_event(r) for r in await self.query(sql, params)]

    async def latest(self, stream: str, key: str) -> StoredEvent | None:
        """The newest version of one record."""
        sql = f"{_SELECT} WHERE key = ? AND stream = ? ORDER BY position DESC LIMIT 1"
        rows = await self.query(sql, (key, stream))
        return _row_to_event(rows[0]) if rows else None

    async def head(self) -> int:
        rows = await self.query("SELECT max(position) FROM events")
        return int(rows[0][0] or 0) if rows else 0

    async def tracking(self, consumer: str) -> int:
        rows = await self.query("SELECT position FROM tracking WHERE consumer = ?", (consumer,))
        return int(rows[0][0]) if rows else 0

    async def bookmark(self, name: str) -> dict[str, Any] | None:
        rows = await self.query("SELECT state FROM bookmarks WHERE name = ?", (name,))
        if not rows:
            return None
        state: dict[str, Any] = orjson.loads(rows[0][0])
        return state

    async def stats(self) -> dict[str, Any]:
        rows = await self.query(
            "SELECT stream, type, count(*) FROM events GROUP BY stream, type ORDER BY stream, type"
        )
        streams: dict[str, dict[str, int]] = {}
        for stream, etype, n in rows:
            streams.setdefault(stream, {})[etype] = n
        return {"head": await self.head(), "events": sum(r[2] for r in rows), "streams": streams}

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with _reading(self.path):
            async with self._reader.execute(sql, params) as cur:
                return [tuple(r) for r in await cur.fetchall()]


async def _rollback(db: aiosqlite.Connection) -> None:
    """ROLLBACK if a transaction is still open.

    SQLite itself already rolled back after SQLITE_FULL, IOERR or NOMEM; a second ROLLBACK then
    fails ("no transaction is active") and, raised inside the handler, would bury SQLite's real
    message under a chained traceback. A failing ROLLBACK is dropped for the same reason: the
    caller raises the original error.
    """
    if db.in_transaction:
        with suppress(sqlite3.Error):
            await db.execute("ROLLBACK")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn an SQLite failure on a read (e.g. a corrupt page) into one StoreError line."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"reading event log {path} failed: {exc}") from exc


async def _close_quietly(*conns: aiosqlite.Connection | None) -> None:
    for conn in conns:
        if conn is not None:
            with suppress(sqlite3.Error):
                await conn.close()
