"""Field-level encryption of buyer PII in the event log, erasable by destroying per-record keys.

The event log is append-only, so erasure works by crypto-shredding: every record (e.g. an Amazon
order) gets its own random data key, stored wrapped by the master key in the mutable side table
``pii_keys`` of the same SQLite file. ``purge`` overwrites the wrapped key with NULL (a tombstone),
after which the record's envelopes can never be opened again; the events themselves stay intact.
A key ages from its record's date (an order's PurchaseDate), else from its creation. ``purge``
verifies the erasure: ``secure_delete`` on the deleting connection and a WAL checkpoint(TRUNCATE)
that must complete (busy = 0), else StoreError (a reader pins old pages holding the keys).

Envelopes are deterministic on purpose (SIV-like): the nonce is HMAC(mac key, plaintext), so the
same value sealed for the same record yields byte-identical output and the poller's payload digest
does not change on every poll. A nonce repeats only for identical plaintext under the same key,
which reveals equality of the two values and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self

import aiosqlite
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import CredentialError, DataError, StoreError
from engine.log import files
from engine.log.ports import EventLog

__all__ = ["CHECKPOINT_WAIT_S", "SCHEMA", "PiiSealer", "is_envelope"]

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
CHECKPOINT_WAIT_S = 5.0  # how long purge lets a reader finish before it fails

_VERSION = 1
_KID_PREFIX = "p1."
_NONCE = 12


def is_envelope(obj: object) -> bool:
    """True when ``obj`` looks like a sealed (or purged) PII envelope."""
    return isinstance(obj, dict) and obj.get("pii") == _VERSION and isinstance(obj.get("kid"), str)


class _KeyStore(Protocol):
    async def ensure_schema(self) -> None: ...
    async def get(self, kid: str) -> tuple[bool, bytes | None]: ...  # (exists, wrapped)
    async def insert(
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes
    ) -> None: ...
    async def purge(self, cutoff: str, wait_s: float) -> int: ...
    async def live(self) -> list[tuple[str, bytes]]: ...
    async def replace_wrapped(self, rows: list[tuple[bytes, str]]) -> None: ...


class _ConnStore:
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


class _LogStore:
    """Keys through the event log's own writer (its transaction) and reader connections."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    async def ensure_schema(self) -> None:
        await self._log.ensure_schema(SCHEMA)
        async with self._log.transaction() as tx:  # one writer: no other process migrates
            columns = {str(r[1]) for r in await tx.fetchall("PRAGMA table_info(pii_keys)")}
            if "record_date" not in columns:
                await tx.execute(_RECORD_DATE)

    async def get(self, kid: str) -> tuple[bool, bytes | None]:
        rows = await self._log.query("SELECT wrapped FROM pii_keys WHERE key_id = ?", (kid,))
        return (False, None) if not rows else (True, rows[0][0])

    async def insert(
        self, kid: str, created_at: str, record_date: str | None, wrapped: bytes
    ) -> None:
        async with self._log.transaction() as tx:
            await tx.execute(_INSERT, (kid, created_at, record_date, wrapped))

    async def purge(self, cutoff: str, wait_s: float) -> int:
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
        async with self._log.transaction() as tx:
            await tx.execute("PRAGMA secure_delete = ON")
            await tx.executemany("UPDATE pii_keys SET wrapped = ? WHERE key_id = ?", rows)
        await self._log.ensure_schema("PRAGMA wal_checkpoint(TRUNCATE);")


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


class PiiSealer:
    """Seal/open buyer PII per record; see the module docstring and /work/notes/pii-api.md."""

    def __init__(self, store: _KeyStore, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise CredentialError("PII sealing needs a 32-byte master key")
        self._store = store
        self._master = AESGCM(master_key)

    @classmethod
    def from_connection(cls, conn: aiosqlite.Connection, master_key: bytes) -> Self:
        return cls(_ConnStore(conn), master_key)

    @classmethod
    def from_log(cls, log: EventLog, master_key: bytes) -> Self:
        return cls(_LogStore(log), master_key)

    @classmethod
    @asynccontextmanager
    async def connect(cls, path: str | Path, master_key: bytes) -> AsyncIterator[Self]:
        """A sealer on its own connection to ``path`` (schema ensured)."""
        try:
            conn = await aiosqlite.connect(Path(path))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        try:
            await conn.execute("PRAGMA busy_timeout = 10000")
            sealer = cls.from_connection(conn, master_key)
            await sealer.ensure_schema()
            yield sealer
        finally:
            await conn.close()

    async def ensure_schema(self) -> None:
        await self._store.ensure_schema()

    @staticmethod
    def key_id(record_key: str) -> str:
        """The data key id of ``record_key``.

        A plain hash: the record key is an order id already in clear in the event, and not
        depending on the master key lets ``rewrap`` rotate the master key without new key ids.
        """
        digest = hashlib.sha256(b"ml-connector pii:" + record_key.encode("utf-8")).hexdigest()
        return _KID_PREFIX + digest[:32]

    async def seal(
        self, record_key: str, value: dict[str, Any], *, record_date: datetime | None = None
    ) -> dict[str, Any]:
        """Encrypt ``value`` for ``record_key``; deterministic for equal inputs (see module doc).
        ``record_date`` (aware; an order's PurchaseDate) dates a new data key for ``purge``."""
        if record_date is not None and record_date.tzinfo is None:
            raise ValueError("record_date must be timezone-aware")
        kid = self.key_id(record_key)
        data_key = await self._data_key(kid, create=True, record_date=record_date)
        if data_key is None:
            return {"pii": _VERSION, "kid": kid, "rk": record_key, "purged": True}
        plain = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_default)
        mac_key = hmac.new(data_key, b"siv nonce", hashlib.sha256).digest()
        nonce = hmac.new(mac_key, plain, hashlib.sha256).digest()[:_NONCE]
        ct = AESGCM(data_key).encrypt(nonce, plain, record_key.encode("utf-8"))
        return {
            "pii": _VERSION,
            "kid": kid,
            "rk": record_key,
            "nonce": _b64(nonce),
            "ct": _b64(ct),
        }

    async def open(
        self, envelope: dict[str, Any], *, record_key: str | None = None
    ) -> dict[str, Any] | None:
        """Decrypt an envelope; None when its key was purged. DataError if forged or misplaced."""
        if not is_envelope(envelope):
            raise DataError("not a PII envelope")
        rk = envelope.get("rk")
        if not isinstance(rk, str):
            raise DataError("PII envelope has no record key")
        if record_key is not None and record_key != rk:
            raise DataError("PII envelope belongs to another record")
        kid = envelope["kid"]
        if kid != self.key_id(rk):
            raise DataError("PII envelope key id does not match its record")
        if envelope.get("purged"):
            return None
        data_key = await self._data_key(kid, create=False)
        if data_key is None:
            return None
        try:
            nonce = base64.b64decode(envelope["nonce"], validate=True)
            ct = base64.b64decode(envelope["ct"], validate=True)
            plain = AESGCM(data_key).decrypt(nonce, ct, rk.encode("utf-8"))
        except (KeyError, TypeError, ValueError, binascii.Error, InvalidTag):
            raise DataError("PII envelope is damaged or was tampered with") from None
        value = orjson.loads(plain)
        if not isinstance(value, dict):
            raise DataError("PII envelope does not hold an object")
        return value

    async def purge(self, older_than: datetime, *, wait_s: float | None = None) -> int:
        """Destroy the keys of records dated (else created) before ``older_than``; how many.
        StoreError if a reader blocks the verifying checkpoint for ``wait_s``; rerun then."""
        if older_than.tzinfo is None:
            raise ValueError("older_than must be timezone-aware")
        wait = CHECKPOINT_WAIT_S if wait_s is None else wait_s
        return await self._store.purge(_ts(older_than), wait)

    async def rewrap(self, new_master_key: bytes, *, dry_run: bool = False) -> int:
        """Re-encrypt every live data key under ``new_master_key`` (master key rotation).

        Idempotent so an interrupted rotation can just run again: a key that already opens under
        the new master key is left alone, every other one must open under the current one (else
        CredentialError and nothing changes). All updates are one transaction. ``dry_run`` only
        checks. Returns how many live keys the new master key wraps; the sealer then uses it.
        """
        if len(new_master_key) != 32:
            raise CredentialError("the new master key must be 32 bytes")
        new = AESGCM(new_master_key)
        live = await self._store.live()
        rows = []
        for kid, wrapped in live:
            if _unwrap(new, kid, wrapped) is not None:
                continue  # moved by an earlier, interrupted rotation
            key = _unwrap(self._master, kid, wrapped)
            if key is None:
                raise CredentialError(
                    f"PII data key {kid} is wrapped by neither the current nor the new master "
                    "key; nothing changed"
                )
            nonce = secrets.token_bytes(_NONCE)
            rows.append((nonce + new.encrypt(nonce, key, kid.encode("ascii")), kid))
        if dry_run:
            return len(live)
        if rows:
            await self._store.replace_wrapped(rows)
        self._master = new
        return len(live)

    async def _data_key(
        self, kid: str, *, create: bool, record_date: datetime | None = None
    ) -> bytes | None:
        exists, wrapped = await self._store.get(kid)
        if not exists:
            if not create:
                return None
            key = secrets.token_bytes(32)
            nonce = secrets.token_bytes(_NONCE)
            blob = nonce + self._master.encrypt(nonce, key, kid.encode("ascii"))
            dated = None if record_date is None else _ts(record_date)
            await self._store.insert(kid, _ts(datetime.now(UTC)), dated, blob)
            # Re-read: a concurrent sealer may have inserted first (INSERT OR IGNORE).
            exists, wrapped = await self._store.get(kid)
        if wrapped is None:
            return None  # purged: tombstone
        try:
            return self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], kid.encode("ascii"))
        except InvalidTag:
            raise CredentialError(
                "a PII data key cannot be unwrapped: the master key is not the one these events "
                "were written with (check ML_CONNECTOR_KEY / the key file)"
            ) from None


def _unwrap(master: AESGCM, kid: str, wrapped: bytes) -> bytes | None:
    """The data key ``wrapped`` holds when ``master`` wrapped it, else None (rewrap's probe)."""
    try:
        return master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], kid.encode("ascii"))
    except InvalidTag:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ts(dt: datetime) -> str:
    # Fixed-width UTC ISO text sorts chronologically, so '<' in SQL compares times.
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default(obj: Any) -> Any:
    from decimal import Decimal

    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"cannot seal a {type(obj).__name__}")
