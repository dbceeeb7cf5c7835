#!/usr/bin/env python3
"""Event log benchmark: engine append vs a raw sqlite3 executemany baseline, then a full replay.

Usage: python scripts/bench_log.py [--events 200000] [--batch 1000] [--dir DIR]
Prints one JSON line: append_events_per_s, raw_sqlite_rows_per_s, append_ratio (engine/raw:
the raw baseline uses the same schema and pays the same encoding), replay_events_per_s,
raw_read_rows_per_s (a raw SELECT + orjson.loads of the same rows), replay_decode_ratio
(target >= 0.8), peak_rss_mb. Targets: append_ratio >= 0.5, replay >= 100,000 events/s,
peak RSS < 200 MB at 1,000,000 events (the replay streams; it never loads the log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

import engine.log.schema as schema
from engine.log import NewEvent, SQLiteEventLog, encode_payload, payload_digest
from engine.sim.business import catalog


def make_order(i: int, rng: random.Random) -> dict[str, Any]:
    """A realistic normalised order payload of about 1-2 KB."""
    items = catalog()
    lines = []
    for n in range(rng.randint(1, 5)):
        it = rng.choice(items)
        qty = rng.randint(1, 4)
        lines.append(
            {
                "order_item_id": f"{i:014d}{n}",
                "sku": it.sku,
                "asin": it.asin,
                "title": it.description,
                "quantity": qty,
                "unit_price": str(it.list_price),
                "item_price": str(it.list_price * qty),
                "item_tax": str((it.list_price * qty * Decimal("0.07")).quantize(Decimal("0.01"))),
                "shipping_price": "4.99",
                "promotion_discount": "0.00",
            }
        )
    return {
        "order_id": f"{111 + i % 800:03d}-{i:07d}-{rng.randrange(10**7):07d}",
        "region": "NA",
        "marketplace_id": "ATVPDKIKX0DER",
        "status": rng.choice(["Pending", "Unshipped", "Shipped"]),
        "fulfillment": rng.choice(["AFN", "MFN"]),
        "purchase_date": "2026-11-01T10:00:00Z",
        "last_update": "2026-11-02T11:00:00Z",
        "currency": "USD",
        "order_total": str(sum((Decimal(str(x["item_price"])) for x in lines), Decimal(0))),
        "sales_channel": "Amazon.com",
        "ship_service_level": "Std US D2D Dom",
        "lines": lines,
        # A sealed ship-to envelope as the pollers store it for MFN orders (AES-GCM, base64).
        "ship_to": {
            "pii": 1,
            "kid": f"order:{i}",
            "nonce": "q8b1m0sZc2Vx3lJr",
            "ct": "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop0123456789+/")
                for _ in range(240)
            ),
        },
    }


def _raw_read(db: Path) -> float:
    """Seconds for a raw SELECT of every event row + orjson.loads of each payload."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    t = time.perf_counter()
    cur = con.execute(
        "SELECT position, stream, type, key, digest, payload, source, recorded_at FROM events"
        " ORDER BY position"
    )
    loads = orjson.loads
    while rows := cur.fetchmany(5000):
        for row in rows:
            loads(row[5])
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(n: int, batch: int, workdir: Path) -> dict[str, Any]:
    rng = random.Random(42)
    events = [
        NewEvent("amazon.orders", "OrderFetched", f"O{i}", make_order(i, rng), "bench")
        for i in range(min(n, batch * 20))
    ]

    # Generate batches on the fly from a pool so 1,000,000 events never sit in memory at once.
    def batches() -> Any:
        for start in range(0, n, batch):
            yield [
                NewEvent(e.stream, e.type, f"O{start + j}", e.payload, e.source)
                for j, e in enumerate(events[: min(batch, n - start)])
            ]

    db = workdir / "bench-events.db"
    t0 = time.perf_counter()
    async with SQLiteEventLog.open(db, synchronous="FULL") as log:
        for b in batches():
            await log.append(b)
        append_s = time.perf_counter() - t0

        # Replay decode vs a raw SELECT + orjson.loads of the same rows (same file, same
        # process, alternated, best of 3 each, so a busy neighbour hurts both alike).
        replay_s = raw_read_s = float("inf")
        count = 0
        for _ in range(3):
            t1 = time.perf_counter()
            count = 0
            async for ev in log.read(batch_size=5000):  # the path projectors and rebuild use
                count += ev.payload is not None  # touch what a projector touches
            replay_s = min(replay_s, time.perf_counter() - t1)
            raw_read_s = min(raw_read_s, _raw_read(db))
    assert count == n, (count, n)

    # Baseline: the same rows into the SAME schema (indexes, append-only triggers) with
    # sqlite3.executemany, same pragmas and one commit per batch; it pays the same encoding
    # (canonical JSON + digest) and the same INSERT OR IGNORE, so the ratio is like for like.
    raw = sqlite3.connect(workdir / "bench-raw.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA synchronous = FULL")
    raw.executescript("".join(ddl for _, ddl in schema.MIGRATIONS))  # every version: same schema
    raw_s = 0.0
    for b in batches():
        t2 = time.perf_counter()
        now = datetime.now(UTC).isoformat()
        rows = []
        for e in b:
            body = encode_payload(e.payload)
            rows.append(
                (e.stream, e.type, e.key, payload_digest(e.type, body), body, e.source, now)
            )
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(
            "INSERT OR IGNORE INTO events (stream, type, key, digest, payload, source,"
            " recorded_at) VALUES (?,?,?,?,?,?,?)",
            rows,
        )
        raw.execute("COMMIT")
        raw_s += time.perf_counter() - t2
    raw.close()
    append_rate = n / append_s
    raw_rate = n / raw_s
    return {
        "events": n,
        "batch": batch,
        "avg_payload_bytes": int(sum(len(encode_payload(e.payload)) for e in events) / len(events)),
        "append_events_per_s": round(append_rate),
        "raw_sqlite_rows_per_s": round(raw_rate),
        "append_ratio": round(append_rate / raw_rate, 3),
        "replay_events_per_s": round(n / replay_s),
        "raw_read_rows_per_s": round(n / raw_read_s),
        "replay_decode_ratio": round(raw_read_s / replay_s, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=200_000, help="events to append (default 200000)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="events per append batch")
    parser.add_argument("--dir", help="work directory (default: a temporary one)")
    args = parser.parse_args()
    if args.events <= 0 or args.batch <= 0:
        parser.error("--events and --batch must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.dir) if args.dir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(bench(args.events, args.batch, workdir))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
