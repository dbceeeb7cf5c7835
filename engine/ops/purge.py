"""``purge-pii``: crypto-shred buyer PII by destroying the per-record data keys of orders placed
before a cutoff (keys without an order date: created before it). The append-only events stay and
still replay, with ``None`` for the address. The erasure is verified on disk: while any reader
holds the log's WAL open, StoreError (exit 1) says so and a later run finishes the job.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.log.sqlite import SQLiteEventLog
from engine.security.keys import load_master_key
from engine.security.pii import PiiSealer

__all__ = ["purge_pii"]


async def purge_pii(db: Path, cutoff: datetime) -> int:
    """Destroy the PII keys in ``db`` of orders placed before ``cutoff``; the number destroyed."""
    key = load_master_key(create=False)
    # The log's writer lock: refuses (StoreBusy, exit 1) while the engine is running on it.
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        return await sealer.purge(cutoff)
