#!/usr/bin/env python3
"""``log migrate`` throughput: an SQLite log of N order events copied into PostgreSQL.

Usage: python scripts/bench_migrate.py [--events 100000] [--batch 5000] [--dsn postgresql://...]
Without --dsn a throwaway cluster is started in a temp dir (tests/pg_fixture.py, Debian's
postgresql). Prints one JSON line: events, copy_s, events_per_s, verify_s (the SHA-256 read-back
of both sides), and events_per_s_vs_append: the copy rate over the rate of appending the same
events to the SQLite source (how the one-off move compares with the engine's own write path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

# The checkout's root: the throwaway cluster helper lives in tests/pg_fixture.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.log import NewEvent, SQLiteEventLog
from engine.log.migrate import migrate_log


def _order(i: int) -> NewEvent:
    lines = [{"sku": f"SKU-{i % 40}", "quantity": 2, "item_price": "19.98"}] * 3
    order_id = f"113-{i:07d}-0000001"
    payload = {"order_id": order_id, "status": "Shipped", "lines": lines}
    return NewEvent("amazon.orders", "OrderFetched", order_id, payload, "sp-api:NA")


async def bench(events: int, batch: int, dsn: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "log.db"
        started = time.monotonic()
        async with SQLiteEventLog.open(src) as log:
            for b in range(0, events, 5000):
                await log.append([_order(i) for i in range(b, min(b + 5000, events))])
        append_s = time.monotonic() - started
        started = time.monotonic()
        report = await migrate_log(src, dsn, batch_size=batch)
        total_s = time.monotonic() - started
    rate = report.copied / report.seconds if report.seconds else 0.0
    return {
        "events": report.copied,
        "copy_s": round(report.seconds, 2),
        "events_per_s": round(rate),
        "verify_s": round(total_s - report.seconds, 2),
        "events_per_s_vs_append": round(rate / (events / append_s), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--dsn", help="an empty PostgreSQL database (default: a throwaway cluster)")
    args = ap.parse_args()
    cluster = None
    dsn = args.dsn
    if dsn is None:
        from tests.pg_fixture import start_cluster

        try:
            cluster = start_cluster()
        except RuntimeError as exc:
            print(f"no PostgreSQL server could start: {exc}", file=sys.stderr)
            return 2
        dsn = cluster.new_database()
    try:
        print(json.dumps(asyncio.run(bench(args.events, args.batch, dsn))))
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
