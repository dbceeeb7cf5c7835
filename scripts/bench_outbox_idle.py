#!/usr/bin/env python3
"""Idle dispatcher cost against history: one cycle with nothing due, at 1k, 100k and 1M stored
commands (every one finished), with the outbox's ``open_commands`` index and with the query it
replaced (the newest attempt of every command ever stored).

Usage: python scripts/bench_outbox_idle.py [--sizes 1000,100000,1000000] [--repeat 20]
Prints one JSON line per size: idle_cycle_ms (pending + next_retry_at, median), the legacy
figure, and ratio_to_smallest (target: about 1.0 whatever the history).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.commands.outbox import DONE_OUTCOMES, Outbox
from engine.commands.records import NEWEST
from engine.log import SQLiteEventLog

LEGACY_PENDING = (
    "SELECT c.command_id FROM commands c LEFT JOIN attempts a ON "
    f"{NEWEST} WHERE (a.id IS NULL OR (a.outcome NOT IN (?, ?, ?) "
    " AND a.outcome != 'parked' AND (a.retry_at IS NULL OR a.retry_at <= ?))) "
    "AND NOT EXISTS (SELECT 1 FROM commands o WHERE o.record_key = c.record_key "
    " AND o.seq < c.seq AND NOT EXISTS (SELECT 1 FROM attempts b WHERE b.id = "
    "  (SELECT max(id) FROM attempts WHERE command_id = o.command_id) "
    "  AND b.outcome IN (?, ?, ?))) ORDER BY c.seq"
)
LEGACY_RETRY = (
    f"SELECT min(a.retry_at) FROM commands c JOIN attempts a ON {NEWEST} "
    "WHERE a.outcome IN ('retry', 'unknown')"
)


STEP = 50_000  # rows per transaction when filling history


async def in_steps(log: SQLiteEventLog, n: int, write: Any) -> None:
    """``await write(tx, lo, hi, now)`` for rows lo..hi of n, one transaction per STEP rows."""
    now = datetime.now(UTC).isoformat()
    for lo in range(0, n, STEP):
        async with log.transaction() as tx:
            await write(tx, lo, min(n, lo + STEP), now)


async def fill(log: SQLiteEventLog, n: int) -> None:
    """n finished commands, one 'ok' attempt each, written straight into the tables."""

    async def write(tx: Any, lo: int, hi: int, now: str) -> None:
        await tx.executemany(
            "INSERT INTO commands (command_id, seq, kind, target, record_key, reference, "
            "idempotency_key, body, positions, projector, created_at) "
            "VALUES (?, ?, 'qad.sales_order.create', 'qad', ?, ?, ?, '{}', '[]', 'b', ?)",
            [(f"c{i}", i + 1, f"r{i}", f"r{i}", f"k{i}", now) for i in range(lo, hi)],
        )
        await tx.executemany(
            "INSERT INTO attempts (command_id, attempt, at, endpoint, request, response, "
            "outcome) VALUES (?, 1, ?, 'qad', '', '', 'ok')",
            [(f"c{i}", now) for i in range(lo, hi)],
        )

    await in_steps(log, n, write)


async def measure(n: int, repeat: int, legacy: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with SQLiteEventLog.open(Path(tmp) / "events.db", synchronous="NORMAL") as log:
            box = Outbox(log)
            await box.ensure()
            await fill(log, n)
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                assert await box.pending(limit=500) == []
                await box.next_retry_at()
                times.append(time.perf_counter() - t0)
            out = {"commands": n, "idle_cycle_ms": round(statistics.median(times) * 1000, 3)}
            if legacy:
                t0 = time.perf_counter()
                now = datetime.now(UTC).isoformat()
                await log.query(LEGACY_PENDING, (*DONE_OUTCOMES, now, *DONE_OUTCOMES))
                await log.query(LEGACY_RETRY)
                out["legacy_cycle_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--no-legacy", action="store_true", help="skip the old query's figure")
    args = ap.parse_args()
    base: float | None = None
    for n in (int(x) for x in args.sizes.split(",")):
        row = await measure(n, args.repeat, not args.no_legacy)
        base = base or row["idle_cycle_ms"]
        row["ratio_to_smallest"] = round(row["idle_cycle_ms"] / base, 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
