"""Token buckets shared by every worker of a PostgreSQL deployment (one row per bucket).

An in-process bucket per worker would let K workers send K times the QAD rate a tenant allows.
Here a bucket is one row of ``mlc_control.rate_buckets`` (the schema every partition shares, so
two partitions posting to one QAD tenant share its bucket) and a request takes its token in one
statement: the row lock orders concurrent takers, the refill is computed from the time since the
last take, and the taker is told how long to wait [I, the `rate_buckets` row of issue 20's
reference §3.4].

Reservation, not polling: the balance may go below zero; a taker that drove it to ``-d`` sleeps
``d / rate`` seconds and then sends. Every reservation is counted exactly once, so over any
window the workers together send at most ``burst + rate * window`` requests, the bound of one
in-process bucket, without any retry loop against the database. The time is the server's
(``clock_timestamp()``), so workers on machines whose clocks disagree still share one bucket.
"""

from __future__ import annotations

import asyncio

from engine.dispatch.limits import Rate
from engine.log.ports import EventLog

__all__ = ["SHARED_BUCKETS_DDL", "SharedBuckets"]

SHARED_BUCKETS_DDL = """
CREATE SCHEMA IF NOT EXISTS mlc_control;
CREATE TABLE IF NOT EXISTS mlc_control.rate_buckets (
    name        TEXT PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
"""
# A new bucket starts full (burst) less this token. Refill: rate per second of server time
# since the last take, capped at burst. RETURNING the balance after this take.
_TAKE = """
INSERT INTO mlc_control.rate_buckets AS b (name, tokens, updated_at)
VALUES (?, ? - 1, clock_timestamp())
ON CONFLICT (name) DO UPDATE SET
    tokens = least(?, b.tokens
                     + extract(epoch FROM clock_timestamp() - b.updated_at)::float8 * ?) - 1,
    updated_at = clock_timestamp()
RETURNING tokens
"""


class SharedBuckets:
    """``acquire(name, rate)`` against the shared rows (``ensure`` creates the table once)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.waited_s = 0.0  # total time this process slept for tokens (bench figures)

    async def ensure(self) -> None:
        await self.log.ensure_schema(SHARED_BUCKETS_DDL, native=True)

    async def reserve(self, name: str, rate: Rate) -> float:
        """Take one token of bucket ``name``; the seconds to wait before sending (0: now)."""
        async with self.log.transaction() as tx:
            rows = await tx.fetchall(_TAKE, (name, rate.burst, rate.burst, rate.per_s))
        balance = float(rows[0][0])
        return 0.0 if balance >= 0 else -balance / rate.per_s

    async def acquire(self, name: str, rate: Rate) -> None:
        wait = await self.reserve(name, rate)
        if wait > 0:
            self.waited_s += wait
            await asyncio.sleep(wait)
