"""Dispatch benchmark: QAD requests per sales order with and without the look-up before create.

    .venv/bin/python scripts/bench_dispatch.py [--orders 2000] [--concurrency 16]

One process, one event loop: the QAD simulator (engine/sim/qad) and the real Dispatcher with
its QAD client over real HTTP, an outbox in a real SQLite file. The same seeded batch of sales
order creates is posted twice, each time into a fresh tenant and a fresh outbox: once with
``[dispatch] lookup_before_create = "always"`` and once with "unless_unsent" (issue 18: skip
the look-up when the outbox proves the command was never sent). Prints one JSON line per mode
and their ratio: QAD requests and look-ups per order (counted by the simulator), orders/s
(simulator and engine share the loop, so it is the pair's figure, for the ratio) and
duplicates (must be 0). Rate limits off. Progress: stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

from engine.adapters.qad import QadClient, QadSettings
from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Command, make_command
from engine.config import DispatchConfig
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.handlers import qad_handlers
from engine.dispatch.limits import LimiterRegistry, Rate
from engine.log import SQLiteEventLog
from engine.sim import business
from engine.sim.qad import QadSimulator

BROWSES = "/api/qracore/browses"


def orders(n: int, seed: int) -> list[Command]:
    rng = random.Random(seed)
    items = [it.item_code for it in business.catalog()]
    today = date.today().isoformat()
    out = []
    for i in range(n):
        ref = f"BENCH-{seed}-{i:06d}"
        lines = [
            {
                "line": k,
                "item": rng.choice(items),
                "quantity": str(rng.randint(1, 3)),
                "price": f"{rng.randint(100, 9999) / 100:.2f}",
                "site": "10-100",
            }
            for k in range(1, rng.randint(1, 3) + 1)
        ]
        body = {
            "reference": ref,
            "customer": "AMZ-US",
            "order_date": today,
            "currency": "USD",
            "site": "10-100",
            "lines": lines,
        }
        out.append(make_command("qad.sales_order.create", "qad", ref, ref, body))
    return out


async def run_mode(
    mode: str, commands: list[Command], concurrency: int, work: Path
) -> dict[str, Any]:
    config = DispatchConfig(
        concurrency=concurrency, qad_rate_per_s=0, listings_rate_per_s=0, timeout_s=60
    )
    async with (
        QadSimulator(work / f"qad-{mode}.db", seed=3) as sim,
        aiohttp.ClientSession() as session,
        SQLiteEventLog.open(work / f"events-{mode}.db") as log,
    ):
        settings = QadSettings(
            tenant_url=sim.tenant_url(), username=sim.username, password=sim.password
        )
        async with QadClient(session, settings) as client:
            outbox = Outbox(log)
            await outbox.ensure()
            async with log.transaction() as tx:
                await outbox.add_commands(tx, commands, "bench")
            dispatcher = Dispatcher(
                log,
                outbox,
                qad_handlers(client),
                LimiterRegistry({"qad": Rate(0)}),
                config,
                skip_unsent_lookups=mode == "unless_unsent",
            )
            sim.requests.clear()
            t0 = time.perf_counter()
            counts = await dispatcher.run_until_idle(timeout_s=3600)
            wall = time.perf_counter() - t0
        refs: dict[str, int] = {}
        for so in sim.sales_orders():
            refs[so["so_po"]] = refs.get(so["so_po"], 0) + 1
        requests = len(sim.requests)
        lookups = sum(1 for m, p in sim.requests if m == "GET" and p == BROWSES)
    n = len(commands)
    return {
        "mode": mode,
        "orders": n,
        "ok": counts.ok,
        "qad_requests_per_order": round(requests / n, 3),
        "qad_lookups_per_order": round(lookups / n, 3),
        "orders_per_s": round(n / wall, 1),
        "duplicates": sum(c - 1 for c in refs.values() if c > 1),
        "missing": n - len(refs),
    }


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    commands = orders(args.orders, args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        for mode in ("always", "unless_unsent"):
            print(f"[bench] {mode}: {args.orders} orders", file=sys.stderr)
            results.append(await run_mode(mode, commands, args.concurrency, Path(tmp)))
            print(json.dumps(results[-1]))
    before, after = results
    print(
        json.dumps(
            {
                "requests_per_order_ratio": round(
                    after["qad_requests_per_order"] / before["qad_requests_per_order"], 3
                ),
                "orders_per_s_ratio": round(after["orders_per_s"] / before["orders_per_s"], 3),
            }
        )
    )
    return 1 if any(r["duplicates"] or r["missing"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
