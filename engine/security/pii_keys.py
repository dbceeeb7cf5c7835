"""Where PII data keys live: the ``pii_keys`` side table, through the event log or a connection.

Through the event log (``LogStore``), a new data key is not written on its own: it is staged in
memory and written by the log's commit hook inside the next write transaction, normally the very
page append whose events carry the envelopes it sealed (issue 18: those inserts were 75 % of all
write transactions). The key therefore commits no later than any event that needs it, and with it
in one transaction; a rolled-back transaction leaves the key staged for the next one, and a crash
loses only keys no committed event uses. A log without the hook (PostgreSQL) writes one
transaction per key, before anything is sealed with it (see ``LogStore.insert``).

Crypto-shredding on PostgreSQL (``purge``; ``replace_wrapped`` likewise). The UPDATE to NULL
leaves the old row version in the heap until vacuumed, and the WAL holds the row as inserted
[D] (MVCC, WAL chapters). So after it ``VACUUM FULL pii_keys`` rewrites the table into a new
file holding only live row versions [D] (checked: ``pg_relation_filenode`` must change, since a
role that does not own the table gets only a WARNING and no rewrite [D]), then ``CHECKPOINT``
(superuser or ``pg_checkpoint``, else skipped and said so) lets the server remove or recycle
the WAL segments written before it [D]. NOT erased by any of this:

- WAL segments the server keeps (``wal_keep_size``, replication slots, not yet archived), WAL
  archives, and recycled segments until overwritten (renamed, not wiped) [D];
- streaming replicas until they replay this (then as above on each), and every backup or
  ``pg_dump`` taken before the purge [I];
- the old table file's freed disk blocks: it is truncated/unlinked, not overwritten [I];
- server logs, if statement logging with parameters is on [D].

Those copies hold only the wrapped key: ciphertext under the master key (AES-GCM). Rotating the
master key afterwards and destroying the old one voids all of them at once; that, not the
VACUUM, is the crypto-shred argument [I]. (``creds rotate-key`` refuses a PostgreSQL log in this
version: engine/ops/rotate_key.py.) ANALYZE is kept off the ``wrapped`` column (statistics
target 0) so no sample of wrapped keys is copied into ``pg_statistic`` [D].
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import suppress
from pathlib import Path
from typing import Protocol

import aiosqlite

from engine.errors import StoreBusy, StoreError
from engine.log import files
from engine.log.ports import EventLog

__all__ = ["SCHEMA", "ConnStore", "KeyStore", "LogStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS pii_keys (
    key_id     TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    wrapped    BLOB,
    record_date TEXT
);
CREATE INDEX IF NOT EXISTS pii_keys_created ON pii_keys (created_at);
"""
# Older logs get the column; their rows keep NULL and age from created_at.
_RECORD_DATE = "ALTER TABLE pii_keys ADD COLUMN record_date TEXT"
_INSERT = "INSERT OR IGNORE INTO pii_keys (key_id,created_at,record_date,wrapped) VALUES (?,?,?,?)"
_PURGE = (  # fixed-width UTC text: '<' compares times
    "UPDATE pii_keys SET wrapped = NULL "
    "WHERE coalesce(record_date, created_at) < ? AND wrapped IS NOT NULL"
)
_LOG = logging.getLogger(__name__)  # never logs a key, a key id or a record key
_VERIFIED = "erasure verified: WAL checkpointed"  # the SQLite purge's outcome, for messages
# PostgreSQL: no PRAGMA table_info; IF NOT EXISTS because another process may add it first.
_PG_COLUMNS = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = 'pii_keys'"
)
_PG_RECORD_DATE = "ALTER TABLE pii_keys ADD COLUMN IF NOT EXISTS record_date TEXT"
_PG_STATS_TARGET = (
    "SELECT attstattarget FROM pg_attribute "
    "WHERE attrelid = 'pii_keys'::regclass AND attname = 'wrapped'"
)
_PG_NO_STATS = "ALTER TABLE pii_keys ALTER COLUMN wrapped SET STATISTICS 0"
_PG_FILENODE = "SELECT pg_relation_filenode('pii_keys')"
# CHECKPOINT needs superuser or pg_checkpoint (15+; the role does not exist before) [D].
_PG_MAY_CHECKPOINT = (
    "SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) "
    "OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_checkpoint' "
    "AND pg_has_role(current_user, oid, 'USAGE'))"
)
_BUSY = {"55P03", "40P01"}  # lock_not_available (lock_timeout), deadlock_detected


class KeyStore(Protocol):
    async def ensure_schema(self) -> None: ...
    async def get(self, kid: str) -> tuple[bool, bytes | None]: ...  # (exists, wrapped)
    async def insert(
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes
    ) -> None: ...
    async def purge(self, cutoff: str, wait_s: float) -> int: ...
    async def live(self) -> list[tuple[str, bytes]]: ...
    async def replace_wrapped(self, rows: list[tuple[bytes, str]]) -> None: ...


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
                await self._conn.execute(_RECORD_DATE)
        await self._conn.commit()

    async def get(self, kid: str) -> tuple[bool, bytes | None]:
        async with self._conn.execute("SELECT wrapped FROM pii_keys WHERE key_id = ?", (kid,)) as c:
            row = await c.fetchone()
        return (False, None) if row is None else (True, row[0])

    async def insert(
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes
    ) -> None:
        await self._conn.execute(_INSERT, (kid, created_at, record_date, wrapped))
        await self._conn.commit()

    async def purge(self, cutoff: str, wait_s: float) -> int:
        # secure_delete zero-fills the freed bytes so the wrapped key is not left in free pages.
        await self._conn.execute("PRAGMA secure_delete = ON")
        cur = await self._conn.execute(_PURGE, (cutoff,))
        await self._conn.commit()
        n = cur.rowcount
        await cur.close()
        await _erased(self._conn, n, wait_s)
        return n

    async def live(self) -> list[tuple[str, bytes]]:
        sql = "SELECT key_id, wrapped FROM pii_keys WHERE wrapped IS NOT NULL"
        async with self._conn.execute(sql) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def replace_wrapped(self, rows: list[tuple[bytes, str]]) -> None:
        # One transaction: either every key moves to the new master key or none does.
        await self._conn.execute("PRAGMA secure_delete = ON")
        await self._conn.executemany("UPDATE pii_keys SET wrapped = ? WHERE key_id = ?", rows)
        await self._conn.commit()
        await _checkpoint(self._conn)


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
        self._postgres = log.capabilities.backend == "postgresql"
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
        if self._postgres:
            await self._ensure_postgres()
            return
        async with self._log.transaction() as tx:  # one writer: no other process migrates
            columns = {str(r[1]) for r in await tx.fetchall("PRAGMA table_info(pii_keys)")}
            if "record_date" not in columns:
                await tx.execute(_RECORD_DATE)

    async def get(self, kid: str) -> tuple[bool, bytes | None]:
        if (staged := self._staged.get(kid)) is not None:
            return True, staged[2]
        rows = await self._log.query("SELECT wrapped FROM pii_keys WHERE key_id = ?", (kid,))
        return (False, None) if not rows else (True, rows[0][0])

    async def insert(
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes
    ) -> None:
        if self._broken is not None:
            raise self._broken
        if self._deferred:  # written by the next commit (see the module docstring)
            self._staged.setdefault(kid, (created_at, record_date, wrapped))
            return
        # No commit hook (PostgreSQL, where several processes may write): the key commits on
        # its own, before the sealer uses it. An ignored insert (rowcount 0) means another writer
        # committed a DIFFERENT key for this record after our look-up (ON CONFLICT DO NOTHING
        # waits for an in-flight conflicting insert and inserts if it rolls back [D]). Adopting
        # that key is safe here, unlike with the hook: nothing has been sealed with ours yet,
        # because PiiSealer._data_key seals only with the key it re-reads from the store after
        # this returns, and that is the committed one. So ours is dropped, never used [I].
        async with self._log.transaction() as tx:
            if await tx.execute(_INSERT, (kid, created_at, record_date, wrapped)) == 1:
                return
            stored = await tx.fetchall("SELECT 1 FROM pii_keys WHERE key_id = ?", (kid,))
        if not stored:  # no row and nothing inserted: never seal with a key that is not stored
            raise StoreError("a PII data key could not be stored (ignored, yet no key is stored)")
        _LOG.debug("PII data key stored by another writer first: adopting it")

    async def purge(self, cutoff: str, wait_s: float) -> int:
        if self._postgres:
            return await self._purge_postgres(cutoff)
        async with self._log.transaction() as tx:
            await tx.execute("PRAGMA secure_delete = ON")
            n = await tx.execute(_PURGE, (cutoff,))
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
        sql = "SELECT key_id, wrapped FROM pii_keys WHERE wrapped IS NOT NULL"
        return [(r[0], r[1]) for r in await self._log.query(sql)]

    async def replace_wrapped(self, rows: list[tuple[bytes, str]]) -> None:
        if self._postgres:
            async with self._log.transaction() as tx:
                await tx.executemany("UPDATE pii_keys SET wrapped = ? WHERE key_id = ?", rows)
            try:
                self.erasure = await self._rewrite()
            except StoreError as exc:
                # The keys did move (committed); the leftovers are wrapped by the old master key
                # that this rotation retires, so failing the rotation here would only stall it.
                _LOG.warning("PII keys re-wrapped, but the old copies were not rewritten: %s", exc)
            return
        async with self._log.transaction() as tx:
            await tx.execute("PRAGMA secure_delete = ON")
            await tx.executemany("UPDATE pii_keys SET wrapped = ? WHERE key_id = ?", rows)
        await self._log.ensure_schema("PRAGMA wal_checkpoint(TRUNCATE);")

    # -- PostgreSQL (see the module docstring) --------------------------------------------------

    async def _ensure_postgres(self) -> None:
        # A new database got the whole SCHEMA; the column check covers a table made before it.
        columns = {str(r[0]) for r in await self._log.query(_PG_COLUMNS)}
        if "record_date" not in columns:
            await self._log.ensure_schema(_PG_RECORD_DATE, native=True)
        target = await self._log.query(_PG_STATS_TARGET)
        if not target or target[0][0] != 0:  # 17+: NULL means the default target [D]
            await self._log.ensure_schema(_PG_NO_STATS, native=True)

    async def _purge_postgres(self, cutoff: str) -> int:
        async with self._log.transaction() as tx:
            n = await tx.execute(_PURGE, (cutoff,))
        try:
            self.erasure = await self._rewrite()
        except StoreError as exc:
            # Rerunning finishes it: the UPDATE then matches nothing, the rewrite runs again.
            raise StoreError(
                f"PII purge NOT verified: {n} key(s) destroyed, but {exc}; run purge-pii again "
                "(it waits for the table lock at most the log's lock timeout)"
            ) from exc
        return n

    async def _rewrite(self) -> str:
        """VACUUM FULL pii_keys (verified by its new file), then CHECKPOINT if the role may.

        VACUUM FULL takes an ACCESS EXCLUSIVE lock: sealers of running engines wait for it (the
        table is small), and it gives up after the log's lock_timeout (StoreBusy) [D]."""
        before = await self._log.query(_PG_FILENODE)
        await self._maintain("VACUUM FULL pii_keys")
        if await self._log.query(_PG_FILENODE) == before:
            raise StoreError(
                "VACUUM FULL did not rewrite pii_keys (is the log's role not the table's "
                "owner?): old row versions still hold the keys"
            )
        if not (await self._log.query(_PG_MAY_CHECKPOINT))[0][0]:
            _LOG.warning(
                "PII purge: CHECKPOINT skipped (the role is neither superuser nor a member of "
                "pg_checkpoint): WAL written before it keeps old copies until the server's next "
                "checkpoint"
            )
            return (
                "pii_keys rewritten by VACUUM FULL; CHECKPOINT skipped, the role may not: old WAL "
                "keeps copies until the server's next checkpoint; archives, replicas and earlier "
                "backups keep theirs"
            )
        await self._maintain("CHECKPOINT")
        return (
            "pii_keys rewritten by VACUUM FULL and checkpointed; WAL archives, replicas and "
            "earlier backups keep wrapped copies"
        )

    async def _maintain(self, sql: str) -> None:
        """``sql`` outside a transaction (engine.log.postgres ``maintain``), as one StoreError."""
        maintain = getattr(self._log, "maintain", None)
        if not callable(maintain):
            raise StoreError(f"the event log {self._log.label} cannot run {sql!r}")
        import psycopg  # only on the PostgreSQL log, where the optional extra is installed

        try:
            await maintain(sql)
        except psycopg.Error as exc:
            text = str(exc).strip().splitlines()
            message = f"{sql} failed: {text[0] if text else type(exc).__name__}"
            raise (StoreBusy if exc.sqlstate in _BUSY else StoreError)(message) from exc


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
        conn.executemany(_INSERT, self.rows)
        if conn.total_changes - before != len(self.rows):
            self.conflict = StoreError(
                "a PII data key was stored by another writer meanwhile; writes to this event "
                "log stop until the engine restarts (no sealed address is lost)"
            )
            raise self.conflict
