"""``purge-pii``: crypto-shred buyer PII by destroying the per-record data keys of orders placed
before a cutoff (keys without an order date: created before it). The append-only events stay and
still replay, with ``None`` for the address. The erasure is verified on disk: while any reader
holds the log's WAL open, StoreError (exit 1) says so and a later run finishes the job. On a
PostgreSQL log the key table is rewritten instead (VACUUM FULL, CHECKPOINT); the result says what
that did (engine/security/pii_keys.py: what it does not erase).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.log.opening import open_event_log
from engine.security.keys import load_master_key
from engine.security.pii import PiiSealer
from engine.security.pii_keys import LogStore

__all__ = ["PurgeResult", "purge_pii"]


@dataclass(frozen=True, slots=True)
class PurgeResult:
    destroyed: int  # keys set to NULL by this run
    where: str  # the log's label: a file path or postgresql://host:port/db (no password)
    erasure: str  # what was done to the old copies, for the operator


async def purge_pii(db: str | Path, cutoff: datetime) -> PurgeResult:
    """Destroy the PII keys in ``db`` (a file or a PostgreSQL URL) of orders placed before
    ``cutoff``."""
    key = load_master_key(create=False)
    # SQLite: the log's writer lock refuses (StoreBusy, exit 1) while the engine runs on it.
    # PostgreSQL takes no such lock (several engines may write): the rewrite waits for the table.
    async with open_event_log(db) as log:
        store = LogStore(log)
        sealer = PiiSealer(store, key)
        await sealer.ensure_schema()
        destroyed = await sealer.purge(cutoff)
        return PurgeResult(destroyed, log.label, store.erasure)
