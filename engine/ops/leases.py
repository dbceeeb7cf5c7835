"""Partition leases of ``run --worker``: one poller per partition at a time, taken over after a
crash, spread evenly over the live workers.

Rows of ``mlc_control`` (the schema every partition of the database shares):

- ``partition_leases(partition, holder, expires_at, generation)``: a worker holds a partition
  until ``expires_at`` and renews it every third of the lease; a lease not renewed (the worker
  was killed, its machine is gone) expires and the next worker to try takes it, with a new
  ``generation``. Taking and renewing is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE``:
  the row lock makes it atomic, so two workers can never both hold one partition.
- ``workers(worker, seen_at)``: a heartbeat with each renewal; a worker holds at most its fair
  share, ceil(partitions / live workers), and gives back the rest, so a worker started later
  gets partitions without anyone restarting.

All times are the server's (``clock_timestamp()``): workers on machines whose clocks disagree
still agree on expiry.

What a lease does not need to guard [I]: two pollers of one partition overlapping for a moment
(a holder that stalled past its lease) append the same records twice, and the log's digest
dedupe stores them once; projection batches are fenced on their tracking position
(engine.projectors.runner); commands are claimed row by row (engine.dispatch.claims).
"""

from __future__ import annotations

import math
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from engine.log.ports import EventLog

__all__ = ["LEASES_DDL", "LeaseTable", "fair_share", "new_worker_id"]

LEASES_DDL = """
CREATE SCHEMA IF NOT EXISTS mlc_control;
CREATE TABLE IF NOT EXISTS mlc_control.partition_leases (
    partition   TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    generation  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS mlc_control.workers (
    worker   TEXT PRIMARY KEY,
    seen_at  TIMESTAMPTZ NOT NULL
);
"""
# Take a free or expired lease, or renew our own; nothing when another worker holds it.
_TAKE = """
INSERT INTO mlc_control.partition_leases AS l (partition, holder, expires_at, generation)
VALUES (?, ?, clock_timestamp() + make_interval(secs => ?), 1)
ON CONFLICT (partition) DO UPDATE SET
    holder = excluded.holder,
    expires_at = excluded.expires_at,
    generation = l.generation + CASE WHEN l.holder = excluded.holder THEN 0 ELSE 1 END
WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp()
RETURNING generation
"""
_RELEASE = "DELETE FROM mlc_control.partition_leases WHERE partition = ? AND holder = ?"
_BEAT = (
    "INSERT INTO mlc_control.workers (worker, seen_at) VALUES (?, clock_timestamp()) "
    "ON CONFLICT (worker) DO UPDATE SET seen_at = excluded.seen_at"
)
_LIVE = (
    "SELECT count(*) FROM mlc_control.workers "
    "WHERE seen_at > clock_timestamp() - make_interval(secs => ?)"
)
_GONE = "DELETE FROM mlc_control.workers WHERE worker = ?"
_HOLDERS = (
    "SELECT partition, holder, generation, expires_at > clock_timestamp() "
    "FROM mlc_control.partition_leases ORDER BY partition"
)


def new_worker_id() -> str:
    """host:pid:random, unique per process start (a restarted worker is a new holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def fair_share(partitions: int, live_workers: int) -> int:
    """How many partitions one worker holds at most when ``live_workers`` share them."""
    return math.ceil(partitions / max(1, live_workers)) if partitions else 0


@dataclass(frozen=True, slots=True)
class Holder:
    partition: str
    holder: str
    generation: int
    live: bool


class LeaseTable:
    """The lease rows, through any partition's log (the table is schema-qualified)."""

    def __init__(self, log: EventLog, worker: str, lease_s: float) -> None:
        self.log = log
        self.worker = worker
        self.lease_s = lease_s

    async def ensure(self) -> None:
        await self.log.ensure_schema(LEASES_DDL, native=True)

    async def take(self, partition: str) -> int | None:
        """Hold or renew ``partition``: its lease generation, or None if another holds it."""
        async with self.log.transaction() as tx:
            rows = await tx.fetchall(_TAKE, (partition, self.worker, self.lease_s))
        return int(rows[0][0]) if rows else None

    async def release(self, partition: str) -> None:
        async with self.log.transaction() as tx:
            await tx.execute(_RELEASE, (partition, self.worker))

    async def heartbeat(self) -> int:
        """Say we are alive; how many workers are (seen within one lease)."""
        async with self.log.transaction() as tx:
            await tx.execute(_BEAT, (self.worker,))
            rows = await tx.fetchall(_LIVE, (self.lease_s,))
        return int(rows[0][0])

    async def leave(self, partitions: Sequence[str]) -> None:
        """On a clean stop: give back our leases at once and drop our heartbeat."""
        async with self.log.transaction() as tx:
            for partition in partitions:
                await tx.execute(_RELEASE, (partition, self.worker))
            await tx.execute(_GONE, (self.worker,))

    async def holders(self) -> list[Holder]:
        rows = await self.log.query(_HOLDERS)
        return [Holder(str(p), str(h), int(g), bool(live)) for p, h, g, live in rows]
