"""Benchmark the order backfill from the All Orders report; prints one JSON line.

    .venv/bin/python scripts/bench_backfill.py [--orders 50000] [--days 365] [--time-scale 20]
        [--format xml|flat] [--api-hours 0] [--qad]

A simulator in its own process holds one NA seller's year of history (``--orders`` over
``--days``) with Amazon's real usage plans, time-scaled; its All Orders reports take their
processing time and visibility lag (engine/sim/amazon/order_reports.py). The engine's
``BackfillOrdersPoller`` (R2, engine/pollers/orders_backfill.py) wrapping the API path's
``OrdersPoller`` runs ``poll_once`` until the backfill has handed over to the API path.

Reported:
- ``orders_with_lines``: distinct orders in the log whose latest version has at least one line;
- ``simulated_hours``: the simulator's clock from the first poll to the hand-over;
- ``orders_with_lines_per_simulated_hour`` (the issue's target: >= 100,000);
- ``throttled_429``: 429 answers the client received (target 0); ``reports_requested``;
- ``wall_s`` and ``peak_rss_mb`` of this process (the download is parsed as a stream).
- with ``--qad``: the log projected and dispatched into an in-process QAD simulator (no QAD rate
  limit), then ``qad_sales_orders`` / ``qad_item_quantity`` against ``expected_sales_orders`` /
  ``expected_item_quantity`` from the log (orders with lines that were not cancelled before
  they were created; quantities of the orders not cancelled) and ``qad_books_match``. A full
  API-only comparison at 50,000 orders takes a day of simulated searchOrders (~2,000 orders/h):
  that comparison is tests/e2e/test_backfill.py's, on a 75-day business.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.retry import Backoff
from engine.adapters.amazon.sim_clock import SimulatorClock
from engine.sim.process import SimulatorProcess, serve_amazon

ORDERS_STREAM = "amazon.orders"


async def _count_orders_with_lines(log: Any) -> int:
    latest: dict[str, bool] = {}
    async for ev in log.read(streams=[ORDERS_STREAM]):
        latest[ev.key] = bool(ev.payload.get("lines") or ev.payload.get("items"))
    return sum(latest.values())


async def _expected(log: Any) -> tuple[int, int]:
    """(sales orders the projector creates, item quantity QAD holds after cancellations)."""
    created: set[str] = set()
    latest: dict[str, dict[str, Any]] = {}
    async for ev in log.read(streams=[ORDERS_STREAM]):
        p = ev.payload
        if p.get("lines") and p.get("status") not in ("Canceled", "PendingAvailability"):
            created.add(ev.key)
        latest[ev.key] = p
    qty = sum(
        int(ln.get("quantity") or 0)
        for k, p in latest.items()
        if k in created and p.get("status") != "Canceled"
        for ln in p.get("lines") or []
    )
    return len(created), qty


async def _books(db: Path, info: dict[str, Any], clock: Any, tmp: str) -> dict[str, Any]:
    """Project and dispatch the log into an in-process QAD simulator; compare counts."""
    import dataclasses
    import os

    from engine.adapters.qad.settings import QadSettings
    from engine.log.sqlite import SQLiteEventLog
    from engine.ops.credentials import profile_settings
    from engine.ops.demo import simulator_config
    from engine.ops.engine import Engine
    from engine.sim.qad import QadSimulator
    from engine.sim.qad.store.schema import CHARGE_ITEMS

    t0 = time.perf_counter()
    async with QadSimulator(Path(tmp) / "qad.db", tenants=("clouderp",)) as qad:
        cfg = simulator_config(
            db,
            amazon_base=info["base"] + "/{region}",
            lwa_url=info["lwa"],
            qad_url=qad.tenant_url(),
            marketplaces=tuple(info["mps"]),
        )
        cfg = dataclasses.replace(
            cfg, dispatch=dataclasses.replace(cfg.dispatch, qad_rate_per_s=0.0, concurrency=8)
        )
        settings = QadSettings(
            tenant_url=cfg.qad.tenant_url,
            username=qad.username,
            password=qad.password,
            domain=cfg.qad.domain,
            entity=cfg.qad.entity,
            **profile_settings(cfg),
        )
        acct = AmazonAccount(
            info["client_id"], info["client_secret"], info["tokens"], info["seller_id"]
        )
        async with Engine.open(
            cfg, amazon_account=acct, qad_settings=settings, master_key=os.urandom(32),
            amazon_clock=clock,
        ) as eng:  # fmt: skip
            await eng.runner.run_once()
            await eng.dispatcher.run_until_idle(3600.0)
        sos = qad.sales_orders()
    async with SQLiteEventLog.open(db, readonly=True) as log:
        want_orders, want_qty = await _expected(log)
    qty = sum(
        int(float(ln["sod_qty_ord"]))
        for so in sos
        for ln in so["lines"]
        if ln["sod_part"] not in CHARGE_ITEMS
    )
    return {
        "qad_sales_orders": len(sos),
        "expected_sales_orders": want_orders,
        "qad_lines": sum(len(so["lines"]) for so in sos),
        "qad_item_quantity": qty,
        "expected_item_quantity": want_qty,
        "qad_books_match": len(sos) == want_orders and qty == want_qty,
        "qad_wall_s": round(time.perf_counter() - t0, 1),
    }


async def run(
    orders: int, days: int, scale: float, fmt: str, api_hours: float, with_qad: bool = False
) -> dict[str, Any]:
    from engine.log.sqlite import SQLiteEventLog
    from engine.pollers.orders import OrdersPollConfig, OrdersPoller
    from engine.pollers.orders_backfill import BackfillConfig, BackfillOrdersPoller
    from engine.sim.amazon.sellers import SellerConfig

    sim_kw = dict(
        total_orders=orders,
        history_days=days,
        rate_limits=True,
        time_scale=scale,
        seed=4,
        sellers=[SellerConfig(regions=("NA",))],
    )
    t_wall = time.perf_counter()
    with SimulatorProcess(serve_amazon, sim_kw) as info, tempfile.TemporaryDirectory() as tmp:
        async with (
            aiohttp.ClientSession() as session,
            SQLiteEventLog.open(Path(tmp) / "events.db") as log,
        ):
            clock = SimulatorClock(info["base"] + "/__sim/clock")
            await clock.sync(session)
            limits = BucketRegistry(time_scale=scale)
            acct = AmazonAccount(
                info["client_id"], info["client_secret"], info["tokens"], info["seller_id"]
            )
            client = AmazonClient(
                session, acct, "NA", endpoint=info["base"] + "/na", lwa_url=info["lwa"],
                clock=clock, limits=limits, backoff=Backoff(base=0.05, cap=2.0, max_tries=8),
            )  # fmt: skip
            cfg = OrdersPollConfig(
                marketplace_ids=tuple(info["mps"]), initial_lookback=timedelta(days=days)
            )
            inner = OrdersPoller(client, log, cfg, None)
            poller = BackfillOrdersPoller(
                inner, BackfillConfig(format=fmt), raw_dir=Path(tmp) / "raw"
            )
            sim0: datetime = clock()
            cycles = 0
            while True:
                cycles += 1
                await poller.poll_once()
                state = await log.bookmark(poller.state_name) or {}
                await clock.sync(session)
                if state.get("finished") or cycles > 200:
                    break
            sim1 = clock()
            done_backfill = await _count_orders_with_lines(log)
            if api_hours > 0:  # the API path after the hand-over, for comparison
                stop = clock() + timedelta(hours=api_hours)
                while clock() < stop:
                    await poller.poll_once()
                    await asyncio.sleep(180 / scale)
                    await clock.sync(session)
            hours = (sim1 - sim0).total_seconds() / 3600
            out = {
                "orders": orders,
                "days": days,
                "format": fmt,
                "time_scale": scale,
                "cycles": cycles,
                "finished": bool(state.get("finished")),
                "orders_with_lines": done_backfill,
                "simulated_hours": round(hours, 3),
                "orders_with_lines_per_simulated_hour": round(done_backfill / max(hours, 1e-9)),
                "throttled_429": client.stats["throttled"],
                "reports_requested": len(state.get("windows") or []),
                "wall_s": round(time.perf_counter() - t_wall, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        if with_qad:
            out |= await _books(Path(tmp) / "events.db", info, clock, tmp)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--time-scale", type=float, default=20.0)
    ap.add_argument("--format", choices=("xml", "flat"), default="xml")
    ap.add_argument("--api-hours", type=float, default=0.0)
    ap.add_argument("--qad", action="store_true", help="post the log to a QAD sim, compare")
    a = ap.parse_args(argv)
    res = asyncio.run(run(a.orders, a.days, a.time_scale, a.format, a.api_hours, a.qad))
    print(json.dumps(res))
    ok = res["finished"] and res["throttled_429"] == 0 and res.get("qad_books_match", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
