"""PII data keys on a PostgreSQL event log: the master-key fence, and erasure by rewriting.

**The fence.** Engines on several machines share one PostgreSQL log, so ``creds rotate-key``
cannot lock them out with a file lock as it does on SQLite. It fences them instead, and no lock
is held longer than one short transaction [I] (design of issue 20's rotate-key work):

- ``pii_master``, one row (``id = 1``), holds the fingerprint of the master key that wraps every
  live row of ``pii_keys``: HMAC-SHA256 keyed by the master key over a constant, so the row
  names the key without revealing it. It is set by the first key stored, and by each rotation.
- Storing a new data key (``insert``) takes ``pg_advisory_xact_lock_shared(ROTATION_LOCK)`` and,
  in the same transaction, compares the row with its own key's fingerprint: on a mismatch
  ``MasterKeyRotated`` (one line) and nothing is stored. The comparison is a statement of its
  own AFTER the lock: under READ COMMITTED each statement sees what committed before it began
  [D], so it sees the fingerprint of a rotation it had to wait for.
- A rotation (``rotate``) takes the same lock exclusively, which waits for every seal in flight
  to commit, and new seals queue behind it (PostgreSQL grants no lock that conflicts with a
  waiting request [I], seen in tests/security/test_rotate_key_postgres.py), so seals never
  starve it; it checks the fingerprint, rewraps every row, sets the new fingerprint and
  commits, all in one transaction.

So a data key is either stored before the rotation and rewrapped by it, or refused after it;
never left wrapped by a retired key. A seal also reads the stored key back inside its fenced
transaction and uses only that, so an envelope is only ever sealed with a key the rotation
covers. A process still holding the old key fails clearly: writing with ``MasterKeyRotated``,
opening (AES-GCM refuses the rewrapped key, no garbage) with the same message once the
fingerprint shows why. Advisory locks are per database; the lock's second half is a hash of the
log's schema, so logs of other partitions in the same database never wait for this one [I].

**Crypto-shredding** (``purge``; the rotation likewise). The UPDATE to NULL leaves the old row
version in the heap until vacuumed, and the WAL holds the row as inserted [D] (MVCC, WAL
chapters). So after it ``VACUUM FULL pii_keys`` rewrites the table into a new file holding only
live row versions [D] (checked: ``pg_relation_filenode`` must change, since a role that does not
own the table gets only a WARNING and no rewrite [D]), then ``CHECKPOINT`` (superuser or
``pg_checkpoint``, else skipped and said so) lets the server remove or recycle the WAL segments
written before it [D]. NOT erased by any of this:

- WAL segments the server keeps (``wal_keep_size``, replication slots, not yet archived), WAL
  archives, and recycled segments until overwritten (renamed, not wiped) [D];
- streaming replicas until they replay this (then as above on each), and every backup or
  ``pg_dump`` taken before the purge [I];
- the old table file's freed disk blocks: it is truncated/unlinked, not overwritten [I];
- server logs, if statement logging with parameters is on [D].

Those copies hold only the wrapped key: ciphertext under the master key (AES-GCM). Rotating the
master key afterwards (``creds rotate-key``, engine/ops/rotate_key.py) and destroying the old
one voids all of them at once; that, not the VACUUM, is the crypto-shred argument [I]. ANALYZE
is kept off the ``wrapped`` column (statistics target 0) so no sample of wrapped keys is copied
into ``pg_statistic`` [D].
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import CredentialError, StoreBusy, StoreError
from engine.log.ports import EventLog, Transaction
from engine.security import pii_sql

__all__ = [
    "FOREIGN_MASTER",
    "ROTATED",
    "ROTATION_LOCK",
    "Fence",
    "MasterKeyRotated",
    "PostgresKeys",
    "Rewrap",
    "master_fingerprint",
]

ROTATED = "the master key was rotated by another process; restart with the new key"
FOREIGN_MASTER = (
    "the PII keys are under a master key that is neither the current nor the new one (rotated "
    "to another key, e.g. by `creds rotate-key` on another machine?): use that key; nothing "
    "changed"
)
# Any constant unique to ml-connector ("mlcP"): the first half of the rotation lock's key.
ROTATION_LOCK = 0x6D6C_6350
_LOCK = f"SELECT pg_advisory_xact_lock{{}}({ROTATION_LOCK}, hashtext(current_schema()))"
_LOCK_SHARED = _LOCK.format("_shared")
_LOCK_EXCLUSIVE = _LOCK.format("")
_MASTER_DDL = (
    "CREATE TABLE IF NOT EXISTS pii_master ("
    "id SMALLINT PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL, "
    "set_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)
_GET_MASTER = "SELECT fingerprint FROM pii_master WHERE id = 1"
_CLAIM_MASTER = "INSERT INTO pii_master (id, fingerprint) VALUES (1, ?) ON CONFLICT (id) DO NOTHING"
_SET_MASTER = (
    "INSERT INTO pii_master (id, fingerprint) VALUES (1, ?) "
    "ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, set_at = now()"
)
_NEWEST_LIVE = f"{pii_sql.LIVE} ORDER BY created_at DESC LIMIT 1"
# No PRAGMA table_info; IF NOT EXISTS because another process may add it first.
_COLUMNS = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = 'pii_keys'"
)
_RECORD_DATE = "ALTER TABLE pii_keys ADD COLUMN IF NOT EXISTS record_date TEXT"
_STATS_TARGET = (
    "SELECT attstattarget FROM pg_attribute "
    "WHERE attrelid = 'pii_keys'::regclass AND attname = 'wrapped'"
)
_NO_STATS = "ALTER TABLE pii_keys ALTER COLUMN wrapped SET STATISTICS 0"
_FILENODE = "SELECT pg_relation_filenode('pii_keys')"
# CHECKPOINT needs superuser or pg_checkpoint (15+; the role does not exist before) [D].
_MAY_CHECKPOINT = (
    "SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) "
    "OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_checkpoint' "
    "AND pg_has_role(current_user, oid, 'USAGE'))"
)
_BUSY = {"55P03", "40P01"}  # lock_not_available (lock_timeout), deadlock_detected
# The PII key store's one logger, for both backends; never logs a key, a key id or a record.
_LOG = logging.getLogger("engine.security.pii_keys")


class MasterKeyRotated(StoreError):
    """This process's master key is not the one ``pii_master`` names: a rotation retired it."""


@dataclass(frozen=True, slots=True)
class Fence:
    """What a sealer shows the store: its key's fingerprint, and a test of a wrapped key."""

    fingerprint: str
    opens: Callable[[str, bytes], bool]  # (key id, wrapped): does our master key unwrap it?


# The live rows (key id, wrapped) -> the (new wrapped, key id) updates; CredentialError if a
# key opens under neither master key (engine.security.pii.PiiSealer.rewrap).
Rewrap = Callable[[list[tuple[str, bytes]]], list[tuple[bytes, str]]]


def master_fingerprint(master_key: bytes) -> str:
    """The public name of a master key in ``pii_master``: an HMAC of a constant, not the key."""
    return hmac.new(master_key, b"ml-connector pii_master fingerprint v1", "sha256").hexdigest()


class PostgresKeys:
    """``pii_keys`` and ``pii_master`` through a PostgreSQL event log (see the module doc)."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    async def ensure_schema(self) -> None:
        """After the shared SCHEMA: a table made before record_date gets it; the fence table."""
        columns = {str(r[0]) for r in await self._log.query(_COLUMNS)}
        if "record_date" not in columns:
            await self._log.ensure_schema(_RECORD_DATE, native=True)
        target = await self._log.query(_STATS_TARGET)
        if not target or target[0][0] != 0:  # 17+: NULL means the default target [D]
            await self._log.ensure_schema(_NO_STATS, native=True)
        await self._log.ensure_schema(_MASTER_DDL, native=True)

    async def fingerprint(self) -> str | None:
        """The fingerprint ``pii_master`` holds; None before the first key (or the table)."""
        if "pii_master" not in await self._log.tables():
            return None
        rows = await self._log.query(_GET_MASTER)
        return str(rows[0][0]) if rows else None

    async def insert(
        self, row: tuple[str, str, str | None, bytes], fence: Fence
    ) -> tuple[bool, bytes | None]:
        """Store a new data key behind the fence; what the store holds for it afterwards.

        An ignored insert means another writer committed a different key for this record
        first (ON CONFLICT DO NOTHING waits for an in-flight conflicting insert [D]): the
        stored one is returned and ours is never used, since nothing was sealed with it yet."""
        kid = row[0]
        async with self._log.transaction() as tx:
            await tx.execute(_LOCK_SHARED)  # waits while a rotation runs
            await _check_master(tx, fence)
            inserted = await tx.execute(pii_sql.INSERT, row) == 1
            stored = await tx.fetchall(pii_sql.SELECT_WRAPPED, (kid,))
        if not stored:  # no row and nothing inserted: never seal with a key that is not stored
            raise StoreError("a PII data key could not be stored (ignored, yet no key is stored)")
        if not inserted:
            _LOG.debug("PII data key stored by another writer first: adopting it")
        wrapped = stored[0][0]
        return True, None if wrapped is None else bytes(wrapped)

    async def rotate(self, old: str, new: str, rewrap: Rewrap) -> int:
        """Move every live key from the master key named ``old`` to ``new``, in one transaction
        behind the exclusive fence; how many live keys ``new`` wraps. Idempotent: a rerun after
        a commit finds the fingerprint ``new`` and nothing left to move."""
        async with self._log.transaction() as tx:
            await tx.execute(_LOCK_EXCLUSIVE)  # waits for every seal in flight
            stored = await _stored_master(tx)
            if stored not in (None, old, new):
                raise CredentialError(f"{self._log.label}: {FOREIGN_MASTER}")
            live = [(str(k), bytes(w)) for k, w in await tx.fetchall(pii_sql.LIVE)]
            rows = rewrap(live)  # CredentialError: rolled back, nothing moved
            await tx.executemany(pii_sql.UPDATE_WRAPPED, rows)
            await _set_master(tx, new)
        if rows:
            try:
                await self.rewrite()
            except StoreError as exc:
                # The keys did move (committed); the leftovers are wrapped by the old master key
                # that this rotation retires, so failing the rotation here would only stall it.
                _LOG.warning("PII keys re-wrapped, but the old copies were not rewritten: %s", exc)
        return len(live)

    async def purge(self, cutoff: str) -> tuple[int, str]:
        """Destroy the keys dated before ``cutoff``, then rewrite; (how many, what was erased)."""
        async with self._log.transaction() as tx:
            n = await tx.execute(pii_sql.PURGE, (cutoff,))
        try:
            erasure = await self.rewrite()
        except StoreError as exc:
            # Rerunning finishes it: the UPDATE then matches nothing, the rewrite runs again.
            raise StoreError(
                f"PII purge NOT verified: {n} key(s) destroyed, but {exc}; run purge-pii again "
                "(it waits for the table lock at most the log's lock timeout)"
            ) from exc
        return n, erasure

    async def rewrite(self) -> str:
        """VACUUM FULL pii_keys (verified by its new file), then CHECKPOINT if the role may.

        VACUUM FULL takes an ACCESS EXCLUSIVE lock: sealers of running engines wait for it (the
        table is small), and it gives up after the log's lock_timeout (StoreBusy) [D]."""
        before = await self._log.query(_FILENODE)
        await self._maintain("VACUUM FULL pii_keys")
        if await self._log.query(_FILENODE) == before:
            raise StoreError(
                "VACUUM FULL did not rewrite pii_keys (is the log's role not the table's "
                "owner?): old row versions still hold the keys"
            )
        if not (await self._log.query(_MAY_CHECKPOINT))[0][0]:
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


async def _stored_master(tx: Transaction) -> str | None:
    rows = await tx.fetchall(_GET_MASTER)
    return str(rows[0][0]) if rows else None


async def _check_master(tx: Transaction, fence: Fence) -> None:
    """Raise unless ``fence`` is the key ``pii_master`` names; the first key names it."""
    stored = await _stored_master(tx)
    if stored is None:
        # First key behind the fence; a log made before it (or copied by `log migrate`) may
        # hold keys already: claim it only if they are ours, else a wrong key would fence out
        # the right one.
        newest = await tx.fetchall(_NEWEST_LIVE)
        if newest and not fence.opens(str(newest[0][0]), bytes(newest[0][1])):
            raise CredentialError(
                "a PII data key cannot be unwrapped: the master key is not the one these events "
                "were written with (check ML_CONNECTOR_KEY / the key file); nothing stored"
            )
        await tx.execute(_CLAIM_MASTER, (fence.fingerprint,))
        stored = await _stored_master(tx)  # another first writer may have claimed it first
    if stored != fence.fingerprint:
        raise MasterKeyRotated(ROTATED)


async def _set_master(tx: Transaction, fingerprint: str) -> None:
    await tx.execute(_SET_MASTER, (fingerprint,))
