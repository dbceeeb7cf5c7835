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
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import aiosqlite
import orjson

import engine.log.files as files
import engine.log.schema as schema
from engine.errors import StoreError
from engine.log.capabilities import SQLITE, LogCapabilities
from engine.log.files import secure_umask
from engine.log.records import AppendResult, NewEvent, StoredEvent
from engine.log.sqlite_tx import (
    CommitHook,
    SQLiteTransaction,
    append_rows,
    encode_events,
    io_counter,
    rollback,
)

__all__ = [
    "SQLiteEventLog",
    "encode_payload",
    "io_counter",
    "payload_digest",
    "secure_umask",
]

# The old private name (tests patch the transaction class through this module).
_SQLiteTransaction = SQLiteTransaction

# Events decoded at a time by ``read_batches``: a small live set of decoded payloads.
_DECODE_CHUNK = 128

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


def _read_sql(streams: Sequence[str] | None) -> tuple[str, tuple[Any, ...]]:
    where = ""
    extra: tuple[Any, ...] = ()
    if streams:
        where = f" AND stream IN ({','.join('?' * len(streams))})"
        extra = tuple(streams)
    return f"{_SELECT} WHERE position > ?{where} ORDER BY position LIMIT ?", extra


def _rows_to_events(rows: list[tuple[Any, ...]]) -> list[StoredEvent]:
    loads, parse = orjson.loads, datetime.fromisoformat
    return [
        StoredEvent(p, st, ty, k, d, loads(b), src, parse(at))
        for p, st, ty, k, d, b, src, at in rows
    ]


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


class SQLiteEventLog:
    """The append-only event log in one SQLite file (see ``engine.log.ports.EventLog``)."""

    capabilities: LogCapabilities = SQLITE  # what it offers beyond the port (P1, issue 20)

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
        self._hooks: list[CommitHook] = []

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
                io_counter.instrument(writer)
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
            io_counter.instrument(reader)
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
            await log.flush_commit_hooks()
        finally:
            # Reader first: the writer closing last checkpoints and removes -wal and -shm.
            await _close_quietly(reader, writer)
            files.release_lock(lock_fd)

    # -- writing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteTransaction]:
        """One ``BEGIN IMMEDIATE`` transaction; commit on success, rollback on any exception.

        Statements cross to the worker thread in as few hops as possible (``sqlite_tx``)."""
        if self._writer is None:
            raise StoreError(f"event log {self.path} was opened read-only")
        async with self._write_lock:
            db = self._writer
            io_counter.transaction_begun()
            tx = SQLiteTransaction(db, str(self.path), self._hooks, encode_payload, payload_digest)
            try:
                yield tx
            except sqlite3.Error as exc:
                tx.abandon()
                await rollback(db)
                raise StoreError(f"write to {self.path} failed: {exc}") from exc
            except BaseException:
                # Also on CancelledError: never leave a half-written transaction open (queued
                # behind any hop still running, judged on the worker thread).
                tx.abandon()
                await rollback(db)
                raise
            if tx.finished:
                return
            try:
                await tx.commit()
            except sqlite3.Error as exc:
                raise StoreError(f"commit to {self.path} failed: {exc}") from exc

    def add_commit_hook(self, hook: CommitHook) -> None:
        """Writes that must commit with the next transaction (``PiiSealer``'s new data keys);
        SQLite-only, so callers check for it and write on their own otherwise."""
        self._hooks.append(hook)

    async def flush_commit_hooks(self) -> None:
        """Commit what hooks still hold (keys sealed after the last transaction) before closing;
        an empty transaction that writes nothing when they hold nothing."""
        if self._writer is not None and self._hooks:
            try:
                async with self.transaction():
                    pass
            except StoreError as exc:
                # No committed event uses such a key (each commit writes the staged ones
                # first), so closing goes on; the failure itself was raised to its writer.
                logging.getLogger(__name__).warning("closing %s: %s", self.path, exc)

    async def append(
        self, events: Sequence[NewEvent], *, bookmark: tuple[str, dict[str, Any]] | None = None
    ) -> AppendResult:
        """Begin, events, head, bookmark, commit hooks and COMMIT in one worker-thread hop."""
        rows = encode_events(events, encode_payload, payload_digest)
        async with self.transaction() as tx:
            if bookmark is not None:
                await tx.set_bookmark(*bookmark)
            result = await tx.commit(lambda conn: append_rows(conn, rows))
        assert result is not None  # commit runs ``last`` whenever it is given
        return result

    async def ensure_schema(self, ddl: str, *, native: bool = False) -> None:
        if self._writer is None:
            raise StoreError(f"event log {self.path} was opened read-only")
        async with self._write_lock:
            try:
                await self._writer.executescript(ddl)
            except sqlite3.Error as exc:
                await rollback(self._writer)
                raise StoreError(f"schema change on {self.path} failed: {exc}") from exc

    # -- reading ---------------------------------------------------------------------------

    async def read(
        self, after: int = 0, *, streams: Sequence[str] | None = None, batch_size: int = 1000
    ) -> AsyncIterator[StoredEvent]:
        """Stream events after ``after`` in position order, one bounded batch at a time.

        Each row is decoded as it is yielded, not a page at once: the consumer usually drops
        an event before the next is built, so payload memory is reused; decoding a whole page
        up front (thousands of live payload dicts) measured slower [I: e3-notes.md]."""
        sql, extra = _read_sql(streams)
        rows = await self.query(sql, (after, *extra, batch_size))
        loads, parse, new = orjson.loads, datetime.fromisoformat, tuple.__new__
        while rows:
            # The next page is read on the reader's thread while this one is decoded here
            # (sqlite3 releases the GIL while it steps): replay overlaps I/O and decoding.
            ahead = None
            if len(rows) == batch_size:
                ahead = asyncio.ensure_future(self.query(sql, (rows[-1][0], *extra, batch_size)))
            try:
                # recorded_at repeats (one stamp per appended batch): parsed once per value.
                stamps: dict[str, datetime] = {}
                for p, st, ty, k, d, b, src, at in rows:
                    when = stamps.get(at)
                    if when is None:
                        when = stamps[at] = parse(at)
                    # tuple.__new__: the named tuple without its Python-level __new__ frame
                    yield new(StoredEvent, (p, st, ty, k, d, loads(b), src, when))
            except BaseException:
                if ahead is not None:
                    ahead.cancel()
                    with suppress(BaseException):
                        await ahead
                raise
            rows = await ahead if ahead is not None else []

    async def read_batches(
        self, after: int = 0, *, streams: Sequence[str] | None = None, batch_size: int = 1000
    ) -> AsyncIterator[list[StoredEvent]]:
        """``read`` in lists of at most ``_DECODE_CHUNK`` events (one generator step per list,
        one worker-thread hop per ``batch_size`` rows) for bulk consumers."""
        sql, extra = _read_sql(streams)
        cursor = after
        while True:
            rows = await self.query(sql, (cursor, *extra, batch_size))
            if not rows:
                return
            for start in range(0, len(rows), _DECODE_CHUNK):
                yield _rows_to_events(rows[start : start + _DECODE_CHUNK])
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

    @property
    def label(self) -> str:
        """The log's name in messages and status (its file path)."""
        return str(self.path)

    async def tables(self) -> set[str]:
        rows = await self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(r[0]) for r in rows}

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
            # One hop (execute + fetchall + close were three); rows are tuples already.
            return list(await self._reader.execute_fetchall(sql, params))  # type: ignore[arg-type]


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
