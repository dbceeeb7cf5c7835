#!/usr/bin/env python3
"""Rebuild / replay memory benchmark (issue 18): peak RSS must stay flat in the log's size.

Usage: python scripts/bench_rebuild.py [--orders 50000 200000] [--dir DIR]

For each N: appends N ``amazon.orders`` / ``OrderFetched`` events (the normalised payloads of
``bench_log.make_order``, straight through the engine's append API: no HTTP, for speed), then in
a CHILD process each (so ``getrusage(RUSAGE_CHILDREN)`` is that phase's own peak):
- ``rebuild``: ``ProjectionRunner.rebuild(dry_run=True)`` with the demo configuration's
  projectors (what ``ml-connector rebuild --dry-run`` runs);
- ``replay``: the derive + seed half of ``replay --to-tenant`` (``retarget.seed_from_log``) into
  a fresh replay outbox (posting and verifying need a QAD tenant; see tests/e2e).
Prints one JSON line per N: orders, append_s, and per phase events_per_s, peak_rss_mb, derived.
Target: peak RSS <= 150 MB at any N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_log import make_order

from engine.log import NewEvent, SQLiteEventLog


async def build_log(db: Path, orders: int, batch: int = 2000) -> float:
    rng = random.Random(18)
    pool = [make_order(i, rng) for i in range(min(orders, 2000))]
    t = time.perf_counter()
    async with SQLiteEventLog.open(db, synchronous="NORMAL") as log:
        for start in range(0, orders, batch):
            events = []
            for i in range(start, min(orders, start + batch)):
                payload = dict(pool[i % len(pool)], order_id=f"{111 + i % 800:03d}-{i:07d}-0000001")
                events.append(
                    NewEvent("amazon.orders", "OrderFetched", payload["order_id"], payload, "bench")
                )
            await log.append(events)
    return time.perf_counter() - t


def _config(db: Path) -> Any:
    from engine.ops.demo import simulator_config

    return simulator_config(db, amazon_base="http://x", lwa_url="", qad_url="")


def _rebuild(db: str, out: Any) -> None:
    from engine.ops.rebuild import rebuild_only

    t = time.perf_counter()
    diff = asyncio.run(rebuild_only(_config(Path(db)), db, dry_run=True))
    out.put({"s": time.perf_counter() - t, "derived": diff.derived, "rss": _own_peak_mb()})


def _replay(db: str, out: Any) -> None:
    from engine.ops.engine import build_projectors
    from engine.ops.retarget import seed_from_log

    async def run() -> int:
        replay = Path(db).with_name(f"{Path(db).stem}.replay.sqlite")  # one per log
        async with (
            SQLiteEventLog.open(db, readonly=True) as source,
            SQLiteEventLog.open(replay, synchronous="NORMAL") as target,
        ):
            return await seed_from_log(source, target, build_projectors(_config(Path(db))))

    t = time.perf_counter()
    added = asyncio.run(run())
    out.put({"s": time.perf_counter() - t, "derived": added, "rss": _own_peak_mb()})


def _own_peak_mb() -> float:
    """This (child) process's own peak RSS."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child(fn: Any, db: Path) -> dict[str, Any]:
    """Run ``fn`` in a fresh process (spawn: nothing inherited) and return what it reports."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(str(db), q))
    p.start()
    result: dict[str, Any] = q.get()
    p.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--dir", help="work directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.dir or tmp)
        for n in sorted(args.orders):
            db = root / f"rebuild-{n}.db"
            append_s = asyncio.run(build_log(db, n))
            row: dict[str, Any] = {"orders": n, "append_s": round(append_s, 1)}
            for name, fn in (("rebuild", _rebuild), ("replay", _replay)):
                r = child(fn, db)
                row[name] = {
                    "events_per_s": round(n / r["s"]),
                    "peak_rss_mb": r["rss"],
                    "derived": r["derived"],
                    "seconds": round(r["s"], 1),
                }
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
