"""The SQLite log's write transaction, built to cross aiosqlite's worker thread rarely.

aiosqlite runs every call on one worker thread and hands its result back through the event loop;
each such hop costs more than the statement itself for the small writes the engine makes (the
profile in issue 18: 11.2 hops per order, 23 % of the loop). So a transaction here:

- begins lazily: ``BEGIN IMMEDIATE`` travels with its first statement;
- defers statements whose result nobody reads (``executemany``, tracking, bookmark): they run,
  in call order, at the head of the next hop (a read, an ``execute``, an ``append``, the commit);
- writes the commit hooks' staged rows (new PII data keys: ``add_commit_hook``) with its first
  hop, so they commit with it and the transaction reads them back like its own writes;
- commits in one hop that also runs what is still deferred, and rolls back in that same hop
  when any of it fails;
- runs a whole statement group in one hop (``EventLog.append``: begin, events, head, bookmark,
  keys, commit).

SQLite's own guarantees are unchanged: one transaction is still all or nothing, statements still
run in call order on one connection; only where an error surfaces moves (a failing deferred
statement raises at the next hop or at the commit, inside the ``async with`` either way).

``io_counter`` counts hops and write transactions for benchmarks (``scripts/bench_e2e.py``):
off, nothing is wrapped and the only cost is one integer increment per transaction.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from engine.errors import StoreBusy, StoreError
from engine.log.records import AppendResult, NewEvent

__all__ = ["CommitHook", "IoCounter", "SQLiteTransaction", "io_counter", "rollback", "run"]

T = TypeVar("T")
Step = Callable[[sqlite3.Connection], Any]

# SQLite primary result codes that mean "someone else holds the lock", not "broken".
BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (stream, type, key, digest, payload, source, recorded_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SET_TRACKING = (
    "INSERT INTO tracking (consumer, position) VALUES (?, ?) "
    "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position"
)
SET_BOOKMARK = (
    "INSERT INTO bookmarks (name, state) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET state = excluded.state"
)


class IoCounter:
    """Worker-thread hops and write transactions of the logs opened while it is enabled."""

    __slots__ = ("by_caller", "enabled", "round_trips", "write_transactions")

    def __init__(self) -> None:
        self.enabled = False
        self.round_trips = 0
        self.write_transactions = 0
        self.by_caller: dict[str, int] = {}  # write transactions by the function that began them

    def enable(self) -> None:
        """Count from now on (connections opened before stay uncounted)."""
        self.enabled = True
        self.round_trips = 0
        self.write_transactions = 0
        self.by_caller = {}

    def transaction_begun(self) -> None:
        self.write_transactions += 1
        if self.enabled:  # diagnosis only: who opens the transactions (frame walk when on)
            frame = sys._getframe(1)
            while frame.f_back is not None and (
                frame.f_code.co_filename.endswith(("contextlib.py", "sqlite.py", "sqlite_tx.py"))
            ):
                frame = frame.f_back
            where = f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}"
            self.by_caller[where] = self.by_caller.get(where, 0) + 1

    def instrument(self, conn: aiosqlite.Connection) -> None:
        """Wrap ``conn``'s single entry to its worker thread (only when enabled: no cost off)."""
        if not self.enabled:
            return
        inner: Any = conn._execute  # every aiosqlite call funnels through it [C] core.py

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.round_trips += 1
            return await inner(fn, *args, **kwargs)

        conn._execute = counted  # type: ignore[method-assign]


io_counter = IoCounter()


async def run(db: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on ``db``'s worker thread: one hop for a whole group of statements.

    aiosqlite has no public call for this; ``_execute`` is the queue every public method uses
    (unchanged from 0.17 to 0.22 [C]), and the test suite runs every write through it."""
    call: Any = db._execute
    result: T = await call(fn, *args)
    return result


class CommitHook(Protocol):
    """Writes that must commit with the next write transaction (new PII data keys)."""

    def take(self) -> Step | None:
        """The staged writes, to run on the worker thread at the start of a transaction, or
        None; nothing is dropped until ``ended`` says that transaction committed."""
        ...

    def ended(self, step: Step, committed: bool) -> None:
        """After the commit (True) or rollback (False) of the transaction that ran ``step``."""
        ...


def _begin(conn: sqlite3.Connection, path: str) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        # Errors raised by the sqlite3 module itself (closed connection) carry no code.
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in BUSY_CODES:
            raise StoreBusy(f"event log {path} is locked: {exc}") from exc
        raise StoreError(f"cannot write to event log {path}: {exc}") from exc


def _rollback_now(conn: sqlite3.Connection) -> None:
    """ROLLBACK if a transaction is still open, judged on the worker thread itself.

    SQLite already rolled back after SQLITE_FULL, IOERR or NOMEM; a second ROLLBACK would fail
    and bury SQLite's real message, so a failing ROLLBACK is dropped (the caller raises)."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


async def rollback(db: aiosqlite.Connection) -> None:
    """Queue a rollback behind every hop already queued (also those of a cancelled caller)."""
    with suppress(ValueError):  # connection already closed: nothing left to roll back
        await run(db, _rollback_now, db._conn)


def append_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> AppendResult:
    """Insert encoded event rows (worker thread); duplicates are ignored and counted."""
    # rowcount, not total_changes: the per-stream count trigger's writes (engine.log.schema)
    # are changes too, and would count every event twice.
    appended = max(conn.executemany(INSERT_EVENT, rows).rowcount, 0) if rows else 0
    row = conn.execute("SELECT max(position) FROM events").fetchone()
    head = int(row[0] or 0) if row else 0
    return AppendResult(appended, len(rows) - appended, head)


def encode_events(
    events: Sequence[NewEvent], encode: Callable[[dict[str, Any]], bytes], digest: Any
) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC).isoformat()
    rows = []
    for ev in events:
        body = encode(ev.payload)
        rows.append((ev.stream, ev.type, ev.key, digest(ev.type, body), body, ev.source, now))
    return rows


class SQLiteTransaction:
    """A write transaction on the writer connection (see ``ports.Transaction``)."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: str,
        hooks: Sequence[CommitHook],
        encode: Callable[[dict[str, Any]], bytes],
        digest: Any,
    ) -> None:
        self._db = db
        self._path = path
        self._hooks = hooks
        self._encode = encode
        self._digest = digest
        self._deferred: list[tuple[str, Any, bool]] = []  # (sql, params or rows, many)
        self._taken: list[tuple[CommitHook, Step]] = []
        self.begun = False
        self.finished = False

    def _defer(self, sql: str, params: Any, many: bool) -> None:
        if self.finished:
            raise StoreError(f"write to {self._path} after its transaction ended")
        self._deferred.append((sql, params, many))

    async def _hop(self, fn: Callable[[sqlite3.Connection], T], *, final: bool = False) -> T:
        """Begin (if not yet, with the commit hooks' writes), run what is deferred, then ``fn``:
        all in one worker-thread call."""
        if self.finished:
            raise StoreError(f"write to {self._path} after its transaction ended")
        deferred, self._deferred = self._deferred, []
        begin, self.begun = not self.begun, True
        steps: list[Step] = []
        if begin:  # hooks write first: the transaction reads them back, like its own writes
            for hook in self._hooks:
                if (step := hook.take()) is not None:
                    self._taken.append((hook, step))
                    steps.append(step)
        path = self._path

        def body(conn: sqlite3.Connection) -> T:
            try:
                if begin:
                    _begin(conn, path)
                for step in steps:
                    step(conn)
                for sql, params, many in deferred:
                    if many:
                        conn.executemany(sql, params)
                    else:
                        conn.execute(sql, params)
                return fn(conn)
            except BaseException:
                if final:  # the commit hop: nothing may stay open after it
                    _rollback_now(conn)
                raise

        return await run(self._db, body, self._db._conn)

    def abandon(self) -> None:
        """The transaction rolls back: hooks keep what they handed over for the next one."""
        self.finished = True
        taken, self._taken = self._taken, []
        for hook, step in taken:
            hook.ended(step, False)

    async def commit(self, last: Callable[[sqlite3.Connection], T] | None = None) -> T | None:
        """Begin if needed, deferred statements, ``last`` and COMMIT in one hop; a failure rolls
        back in that same hop. A transaction that wrote nothing at all: no hop."""
        if self.finished:
            raise StoreError(f"transaction on {self._path} already ended")
        idle = not self.begun and not self._deferred and last is None
        if idle and not any(hook.take() is not None for hook in self._hooks):
            self.finished = True
            return None

        def finish(conn: sqlite3.Connection) -> T | None:
            result = last(conn) if last is not None else None
            conn.execute("COMMIT")
            return result

        try:
            result = await self._hop(finish, final=True)
        except BaseException:
            self.abandon()
            raise
        self.finished = True
        taken, self._taken = self._taken, []
        for hook, step in taken:
            hook.ended(step, True)
        return result

    # -- ports.Transaction -----------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent]) -> AppendResult:
        rows = encode_events(events, self._encode, self._digest)
        return await self._hop(lambda conn: append_rows(conn, rows))

    async def set_tracking(self, consumer: str, position: int) -> None:
        self._defer(SET_TRACKING, (consumer, position), False)

    async def set_bookmark(self, name: str, state: dict[str, Any]) -> None:
        self._defer(SET_BOOKMARK, (name, self._encode(state)), False)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._hop(lambda conn: int(conn.execute(sql, params).rowcount))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        # Materialised now: a generator must not run later on the worker thread.
        self._defer(sql, list(rows), True)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = await self._hop(
            lambda conn: conn.execute(sql, params).fetchall()
        )
        return rows
