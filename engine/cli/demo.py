"""``ml-connector demo``: both simulators in-process, a few weeks of business synced into QAD."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from engine.errors import ConfigError
from engine.ops.demo import DemoOptions, DemoSummary, run_demo


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="sync a simulated Amazon seller into a simulated QAD tenant (start here)",
        description="Start the SP-API and QAD simulators on 127.0.0.1, generate a seeded "
        "business of a few weeks (orders in 5 marketplaces and 3 regions, settlements, FBA and "
        "merchant stock), sync it into QAD under Amazon's real usage plans (time-scaled), change "
        "an item in QAD and push it to the Amazon listing, and print a summary. Files (event log, "
        "QAD state) go to --dir so you can inspect them afterwards with `ml-connector status`.",
    )
    p.add_argument("--dir", help="folder for the demo's SQLite files (default: a temp folder)")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulated business")
    p.add_argument("--days", type=int, default=28, help="days of history (default 28)")
    p.add_argument("--orders-per-day", type=int, default=25, help="orders per day (default 25)")
    p.add_argument(
        "--time-scale", type=float, default=600.0, help="simulated seconds per real second"
    )
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.days < 15 or args.days > 80:
        raise ConfigError("--days must be between 15 and 80 (a settlement closes every 14 days)")
    if args.orders_per_day < 1 or args.time_scale <= 0:
        raise ConfigError("--orders-per-day and --time-scale must be positive")
    if args.dir:
        workdir = Path(args.dir)
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "events.db").exists():
            raise ConfigError(f"{workdir} already holds a demo (events.db); pick an empty --dir")
        return asyncio.run(_demo(workdir, args))
    with tempfile.TemporaryDirectory(prefix="ml-connector-demo-") as tmp:
        return asyncio.run(_demo(Path(tmp), args))


async def _demo(workdir: Path, args: argparse.Namespace) -> int:
    started = time.monotonic()
    _say(f"ml-connector demo: files in {workdir}")
    opts = DemoOptions(
        seed=args.seed,
        days=args.days,
        orders_per_day=args.orders_per_day,
        time_scale=args.time_scale,
    )
    render(await run_demo(workdir, opts, _say), sys.stdout)
    _say(
        f"done in {time.monotonic() - started:.0f} s. Inspect: ml-connector status --db "
        f"{workdir / 'events.db'}"
        if args.dir
        else f"done in {time.monotonic() - started:.0f} s"
    )
    return 0


def render(s: DemoSummary, out: TextIO) -> None:
    w = out.write
    w("\nSummary\n")
    w(f"  Amazon orders fetched         {s.orders:>6}  ({s.order_versions} versions in the log)\n")
    w(f"  QAD sales orders              {s.sales_orders:>6}\n")
    w(f"  Settlements -> invoices       {s.invoices:>6}  journals {s.journals}\n")
    for c in s.settlements:
        state = "reconciled" if c.reconciled else "NOT RECONCILED"
        w(f"    {c.reference:<28} {c.currency} {c.amount:>12}  {state}\n")
    w(f"  Inventory adjustments         {s.adjustments:>6}  (FBA site aligned to Amazon)\n")
    patched = f"{s.listings_patched:>6}  {s.listing_sku}: {s.listing_price}"
    w(f"  Listings patched              {patched}\n")
    w(f"  Parked                        {len(s.parked):>6}\n")
    for key, reason in s.parked[:10]:
        w(f"    {key}: {reason}\n")
