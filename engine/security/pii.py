"""Field-level encryption of buyer PII in the event log, erasable by destroying per-record keys.

The event log is append-only, so erasure works by crypto-shredding: every record (e.g. an Amazon
order) gets its own random data key, stored wrapped by the master key in the mutable side table
``pii_keys`` of the same SQLite file. ``purge`` overwrites the wrapped key with NULL (a tombstone),
after which the record's envelopes can never be opened again; the events themselves stay intact.
A key ages from its record's date (an order's PurchaseDate), else from its creation. ``purge``
verifies the erasure: ``secure_delete`` on the deleting connection and a WAL checkpoint(TRUNCATE)
that must complete (busy = 0), else StoreError (a reader pins old pages holding the keys). On a
PostgreSQL log the table lives in that database, and ``purge`` rewrites it instead (VACUUM FULL,
CHECKPOINT); what that does and does not erase: engine/security/pii_keys_postgres.py.

On PostgreSQL, engines on several machines share ``pii_keys``, so every new key is stored behind a
fence: ``pii_master`` names (by fingerprint) the master key that wraps the table, and a sealer
whose key is not that one, because ``creds rotate-key`` retired it, is refused with
``MasterKeyRotated`` when it writes or opens (engine/security/pii_keys_postgres.py).

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
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiosqlite
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import CredentialError, DataError, StoreError
from engine.log.ports import EventLog
from engine.security.pii_keys import SCHEMA, ConnStore, KeyStore, LogStore
from engine.security.pii_keys_postgres import (
    FOREIGN_MASTER,
    ROTATED,
    Fence,
    MasterKeyRotated,
    master_fingerprint,
)

__all__ = ["CHECKPOINT_WAIT_S", "SCHEMA", "MasterKeyRotated", "PiiSealer", "is_envelope"]

CHECKPOINT_WAIT_S = 5.0  # how long purge lets a reader finish before it fails

_VERSION = 1
_KID_PREFIX = "p1."
_NONCE = 12


def is_envelope(obj: object) -> bool:
    """True when ``obj`` looks like a sealed (or purged) PII envelope."""
    return isinstance(obj, dict) and obj.get("pii") == _VERSION and isinstance(obj.get("kid"), str)


class PiiSealer:
    """Seal/open buyer PII per record; see the module docstring and /work/notes/pii-api.md."""

    def __init__(self, store: KeyStore, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise CredentialError("PII sealing needs a 32-byte master key")
        self._store = store
        self._master = AESGCM(master_key)
        self._fingerprint = master_fingerprint(master_key)

    @classmethod
    def from_connection(cls, conn: aiosqlite.Connection, master_key: bytes) -> Self:
        return cls(ConnStore(conn), master_key)

    @classmethod
    def from_log(cls, log: EventLog, master_key: bytes) -> Self:
        return cls(LogStore(log), master_key)

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

    async def check_master(self) -> None:
        """Refuse at start a master key the log no longer names (PostgreSQL: ``pii_master``,
        moved by a rotation another process ran): better than at the first order with PII."""
        stored = await self._store.fingerprint()
        if stored is not None and stored != self._fingerprint:
            raise MasterKeyRotated(ROTATED)

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
        CredentialError and nothing changes). All updates are one transaction; on PostgreSQL
        that transaction holds the rotation fence and moves ``pii_master`` to the new key
        (pii_keys_postgres). ``dry_run`` only checks. Returns how many live keys the new master
        key wraps; the sealer then uses it.
        """
        if len(new_master_key) != 32:
            raise CredentialError("the new master key must be 32 bytes")
        new = AESGCM(new_master_key)
        new_fingerprint = master_fingerprint(new_master_key)

        def moved(live: list[tuple[str, bytes]]) -> list[tuple[bytes, str]]:
            rows = []
            for kid, wrapped in live:
                if _unwrap(new, kid, wrapped) is not None:
                    continue  # moved by an earlier, interrupted rotation
                key = _unwrap(self._master, kid, wrapped)
                if key is None:
                    raise CredentialError(
                        f"PII data key {kid} is wrapped by neither the current nor the new "
                        "master key; nothing changed"
                    )
                nonce = secrets.token_bytes(_NONCE)
                rows.append((nonce + new.encrypt(nonce, key, kid.encode("ascii")), kid))
            return rows

        if dry_run:
            stored = await self._store.fingerprint()
            if stored not in (None, self._fingerprint, new_fingerprint):
                raise CredentialError(FOREIGN_MASTER)
            live = await self._store.live()
            moved(live)
            return len(live)
        n = await self._store.rotate(self._fingerprint, new_fingerprint, moved)
        self._master, self._fingerprint = new, new_fingerprint
        return n

    @property
    def _fence(self) -> Fence:
        master = self._master  # the key this fence speaks for, even if rewrap moves on
        return Fence(self._fingerprint, lambda kid, blob: _unwrap(master, kid, blob) is not None)

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
            # Seal only with what the store holds after the insert: a concurrent sealer (another
            # process on PostgreSQL) may have stored its key first (INSERT OR IGNORE), and an
            # envelope sealed with our discarded key would never open (pii_keys.LogStore.insert).
            # On PostgreSQL it is read inside the fenced transaction, so a rotation either
            # rewraps it later or came first and refused the insert (pii_keys_postgres).
            exists, wrapped = await self._store.insert(
                kid, _ts(datetime.now(UTC)), dated, blob, self._fence
            )
            if not exists:
                raise StoreError("a new PII data key is not in the store after its insert")
        if wrapped is None:
            return None  # purged: tombstone
        try:
            return self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], kid.encode("ascii"))
        except InvalidTag:
            pass
        stored = await self._store.fingerprint()
        if stored is not None and stored != self._fingerprint:  # AES-GCM refused: no garbage
            raise MasterKeyRotated(ROTATED)
        raise CredentialError(
            "a PII data key cannot be unwrapped: the master key is not the one these events "
            "were written with (check ML_CONNECTOR_KEY / the key file)"
        )


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
