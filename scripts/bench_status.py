#!/usr/bin/env python3
"""``status`` cost against history (issue 18): ``collect_status`` at 1k and 1M stored commands
(every one finished) with as many order events, built straight into the tables as
``bench_outbox_idle.py`` does.

Usage: python scripts/bench_status.py [--sizes 1000,1000000] [--repeat 5]
Prints one JSON line per size: status_ms (median of ``collect_status``), ratio_to_smallest
(target: about 1.0 whatever the history).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_outbox_idle import fill, in_steps

from engine.commands.outbox import Outbox
from engine.log import SQLiteEventLog
from engine.ops.status import collect_status


async def fill_events(log: SQLiteEventLog, n: int) -> None:
    """n order events, projected (tracking at the head): history, not work."""

    async def write(tx: Any, lo: int, hi: int, now: str) -> None:
        await tx.executemany(
            "INSERT INTO events (stream, type, key, digest, payload, source, recorded_at) "
            "VALUES ('amazon.orders', 'OrderFetched', ?, ?, x'7b7d', 'bench', ?)",
            [(f"o{i}", f"d{i}", now) for i in range(lo, hi)],
        )

    await in_steps(log, n, write)
    async with log.transaction() as tx:
        await tx.set_tracking("projector:orders", n)


async def measure(n: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with SQLiteEventLog.open(Path(tmp) / "events.db", synchronous="NORMAL") as log:
            await Outbox(log).ensure()
            await fill(log, n)
            await fill_events(log, n)
            await collect_status(log)  # warm-up: first statements prepared, pages cached
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                status = await collect_status(log)
                times.append(time.perf_counter() - t0)
            orders = next(f for f in status["flows"] if f["flow"] == "amazon.orders")
            assert orders["commands"]["sent"] == n and orders["events"] == n, orders
            return {"commands": n, "status_ms": round(statistics.median(times) * 1000, 2)}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,1000000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    base: float | None = None
    for n in (int(x) for x in args.sizes.split(",")):
        row = await measure(n, args.repeat)
        base = base or row["status_ms"]
        row["ratio_to_smallest"] = round(row["status_ms"] / base, 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
