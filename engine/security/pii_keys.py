"""Where PII data keys live: the ``pii_keys`` side table, through the event log or a connection.

Through the event log (``LogStore``), a new data key is not written on its own: it is staged in
memory and written by the log's commit hook inside the next write transaction, normally the very
page append whose events carry the envelopes it sealed (issue 18: those inserts were 75 % of all
write transactions). The key therefore commits no later than any event that needs it, and with it
in one transaction; a rolled-back transaction leaves the key staged for the next one, and a crash
loses only keys no committed event uses.

A PostgreSQL log has no hook (several processes may write): each key is its own transaction,
before anything is sealed with it, behind the master-key fence that lets ``creds rotate-key``
run beside engines on other machines; ``purge`` there rewrites the table, and what that does and
does not erase is said with it: engine/security/pii_keys_postgres.py.
"""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from pathlib import Path
from typing import Protocol

import aiosqlite

from engine.errors import StoreError
from engine.log import files
from engine.log.ports import EventLog
from engine.security import pii_sql
from engine.security.pii_keys_postgres import Fence, PostgresKeys, Rewrap

__all__ = ["SCHEMA", "ConnStore", "KeyStore", "LogStore"]

SCHEMA = pii_sql.SCHEMA
_VERIFIED = "erasure verified: WAL checkpointed"  # the SQLite purge's outcome, for messages


class KeyStore(Protocol):
    async def ensure_schema(self) -> None: ...
    async def get(self, kid: str) -> tuple[bool, bytes | None]: ...  # (exists, wrapped)
    async def insert(  # what the store holds for ``kid`` afterwards, as ``get``
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes, fence: Fence
    ) -> tuple[bool, bytes | None]: ...
    async def purge(self, cutoff: str, wait_s: float) -> int: ...
    async def live(self) -> list[tuple[str, bytes]]: ...
    # The fingerprint of the master key the store says wraps its keys (PostgreSQL's
    # ``pii_master``); None where the store keeps none (SQLite: its writer lock fences instead).
    async def fingerprint(self) -> str | None: ...
    async def rotate(self, old: str, new: str, rewrap: Rewrap) -> int: ...


class ConnStore:
    """Keys through an aiosqlite connection we may write on (each write its own commit)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def ensure_schema(self) -> None:
        await self._conn.executescript(SCHEMA)
        async with self._conn.execute("PRAGMA table_info(pii_keys)") as cur:
            columns = {str(r[1]) for r in await cur.fetchall()}
        if "record_date" not in columns:
            with suppress(sqlite3.OperationalError):  # "duplicate column": migrated meanwhile
                await self._conn.execute(pii_sql.RECORD_DATE)
        await self._conn.commit()

    async def get(self, kid: str) -> tuple[bool, bytes | None]:
        async with self._conn.execute(pii_sql.SELECT_WRAPPED, (kid,)) as c:
            row = await c.fetchone()
        return (False, None) if row is None else (True, row[0])

    async def insert(
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes, fence: Fence
    ) -> tuple[bool, bytes | None]:
        await self._conn.execute(pii_sql.INSERT, (kid, created_at, record_date, wrapped))
        await self._conn.commit()
        return await self.get(kid)  # ignored: the key another connection stored first

    async def purge(self, cutoff: str, wait_s: float) -> int:
        # secure_delete zero-fills the freed bytes so the wrapped key is not left in free pages.
        await self._conn.execute("PRAGMA secure_delete = ON")
        cur = await self._conn.execute(pii_sql.PURGE, (cutoff,))
        await self._conn.commit()
        n = cur.rowcount
        await cur.close()
        await _erased(self._conn, n, wait_s)
        return n

    async def live(self) -> list[tuple[str, bytes]]:
        async with self._conn.execute(pii_sql.LIVE) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def fingerprint(self) -> str | None:
        return None

    async def rotate(self, old: str, new: str, rewrap: Rewrap) -> int:
        live = await self.live()
        rows = rewrap(live)
        if rows:  # one transaction: either every key moves to the new master key or none does
            await self._conn.execute("PRAGMA secure_delete = ON")
            await self._conn.executemany(pii_sql.UPDATE_WRAPPED, rows)
            await self._conn.commit()
            await _checkpoint(self._conn)
        return len(live)


class LogStore:
    """Keys through the event log's own writer (its transaction) and reader connections."""

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._staged: dict[str, tuple[str, str | None, bytes]] = {}
        self._broken: StoreError | None = None
        add_hook = getattr(log, "add_commit_hook", None)
        self._deferred = callable(add_hook)
        if callable(add_hook):
            add_hook(self)
        postgres = log.capabilities.backend == "postgresql"
        self._pg = PostgresKeys(log) if postgres else None
        # What the last purge did to erase old copies, for the operator's message.
        self.erasure = _VERIFIED

    # -- the log's commit hook (engine.log.sqlite_tx.CommitHook) ------------------------------

    def take(self) -> _KeyInsert | None:
        if self._broken is not None:
            return _KeyInsert([], self._broken)  # refuses every commit: see _KeyInsert
        if not self._staged:
            return None
        return _KeyInsert([(k, c, d, w) for k, (c, d, w) in self._staged.items()], None)

    def ended(self, step: object, committed: bool) -> None:
        if not isinstance(step, _KeyInsert):
            return
        if step.conflict is not None:
            self._broken = step.conflict
        elif committed:
            for kid, created_at, _, _ in step.rows:
                if self._staged.get(kid, (None, None, None))[0] == created_at:
                    del self._staged[kid]

    async def ensure_schema(self) -> None:
        await self._log.ensure_schema(SCHEMA)
        if self._pg is not None:
            await self._pg.ensure_schema()
            return
        async with self._log.transaction() as tx:  # one writer: no other process migrates
            columns = {str(r[1]) for r in await tx.fetchall("PRAGMA table_info(pii_keys)")}
            if "record_date" not in columns:
                await tx.execute(pii_sql.RECORD_DATE)

    async def get(self, kid: str) -> tuple[bool, bytes | None]:
        if (staged := self._staged.get(kid)) is not None:
            return True, staged[2]
        rows = await self._log.query(pii_sql.SELECT_WRAPPED, (kid,))
        return (False, None) if not rows else (True, rows[0][0])

    async def insert(
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes, fence: Fence
    ) -> tuple[bool, bytes | None]:
        if self._broken is not None:
            raise self._broken
        if self._pg is not None:  # its own fenced transaction (pii_keys_postgres)
            return await self._pg.insert((kid, created_at, record_date, wrapped), fence)
        if not self._deferred:
            raise StoreError(f"event log {self._log.label} cannot store PII data keys")
        # Written by the next commit (see the module docstring); the log's writer lock keeps
        # every other process out, rotate-key included, so the key needs no fence here.
        staged = self._staged.setdefault(kid, (created_at, record_date, wrapped))
        return True, staged[2]

    async def purge(self, cutoff: str, wait_s: float) -> int:
        if self._pg is not None:
            n, self.erasure = await self._pg.purge(cutoff)
            return n
        async with self._log.transaction() as tx:
            await tx.execute("PRAGMA secure_delete = ON")
            n = await tx.execute(pii_sql.PURGE, (cutoff,))
        # The log's ports cannot return a checkpoint's result, so a short-lived connection of
        # ours checkpoints (the log holds no transaction open meanwhile).
        path = getattr(self._log, "path", None)
        if not isinstance(path, Path):
            raise StoreError("cannot verify the PII purge: the event log has no file path")
        try:
            conn = await aiosqlite.connect(files.sqlite_uri(path, "rw"), uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot verify the PII purge in {path}: {exc}") from exc
        try:
            await _erased(conn, n, wait_s)
        finally:
            await conn.close()
        return n

    async def live(self) -> list[tuple[str, bytes]]:
        return [(r[0], r[1]) for r in await self._log.query(pii_sql.LIVE)]

    async def fingerprint(self) -> str | None:
        return None if self._pg is None else await self._pg.fingerprint()

    async def rotate(self, old: str, new: str, rewrap: Rewrap) -> int:
        if self._pg is not None:  # behind the exclusive fence, in one transaction
            return await self._pg.rotate(old, new, rewrap)
        # SQLite: rotate-key holds the log's writer lock, so nothing is sealed meanwhile.
        live = await self.live()
        rows = rewrap(live)
        if rows:
            async with self._log.transaction() as tx:  # every key moves, or none does
                await tx.execute("PRAGMA secure_delete = ON")
                await tx.executemany(pii_sql.UPDATE_WRAPPED, rows)
            await self._log.ensure_schema("PRAGMA wal_checkpoint(TRUNCATE);")
        return len(live)


async def _erased(conn: aiosqlite.Connection, n: int, wait_s: float) -> None:
    """Checkpoint(TRUNCATE) the WAL; StoreError unless its row (busy, log, checkpointed) shows
    it complete: until then old page images (WAL, main file) still hold the wrapped keys."""
    try:
        async with conn.execute("PRAGMA journal_mode") as cur:
            mode = await cur.fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            return  # rollback journal: secure_delete alone overwrote the keys
        await conn.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        async with conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
            row = await cur.fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"the WAL checkpoint after the PII purge failed: {exc}") from exc
    if row is not None and row[0] == 0 and row[1] == row[2]:
        return
    raise StoreError(
        f"PII purge NOT verified: {n} key(s) destroyed, but a reader holds the event log open "
        f"(WAL checkpoint {tuple(row) if row else None}): old copies of the keys are still on "
        "disk; stop the engine and every reader (status, audit, sqlite3), then run purge-pii again"
    )


async def _checkpoint(conn: aiosqlite.Connection) -> None:
    async with conn.execute("PRAGMA journal_mode") as cur:
        row = await cur.fetchone()
    if row is not None and str(row[0]).lower() == "wal":
        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class _KeyInsert:
    """The staged keys' INSERT, run on the log's worker thread inside the committing transaction.

    INSERT OR IGNORE must insert every row: an ignored one means another writer stored a
    different key for that record after our look-up, and envelopes already sealed with ours would
    never open. Only a second writer on the file can do that (the log's flock forbids it), so it
    fails loudly: this transaction rolls back, and every later commit on this log is refused
    until the process restarts and re-seals from the stored keys [I]."""

    __slots__ = ("conflict", "rows")

    def __init__(
        self, rows: list[tuple[str, str, str | None, bytes]], conflict: StoreError | None
    ) -> None:
        self.rows = rows
        self.conflict = conflict

    def __call__(self, conn: sqlite3.Connection) -> None:
        if self.conflict is not None:
            raise self.conflict
        before = conn.total_changes
        conn.executemany(pii_sql.INSERT, self.rows)
        if conn.total_changes - before != len(self.rows):
            self.conflict = StoreError(
                "a PII data key was stored by another writer meanwhile; writes to this event "
                "log stop until the engine restarts (no sealed address is lost)"
            )
            raise self.conflict
