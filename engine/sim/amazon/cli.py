"""Command-line entry of the Amazon SP-API simulator: ``ml-connector sim amazon``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

DESCRIPTION = (
    "Run the Amazon SP-API + LWA simulator on 127.0.0.1 (regions as path prefixes /na, /eu, /fe) "
    "and print the endpoints and demo credentials it accepts."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (same seed, same business)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulated s per real s")
    parser.add_argument("--orders-per-day", type=int, default=40, help="new orders per sim day")
    parser.add_argument("--no-rate-limits", action="store_true", help="turn usage plans off")


async def _serve(args: argparse.Namespace) -> None:
    from engine.sim.amazon import AmazonSimulator

    async with AmazonSimulator(
        seed=args.seed,
        time_scale=args.time_scale,
        orders_per_day=args.orders_per_day,
        port=args.port,
        rate_limits=not args.no_rate_limits,
    ) as sim:
        s = sim.sellers[0]
        print(
            f"Amazon SP-API simulator at {sim.base_url} (sim time {sim.clock.now():%Y-%m-%d %H:%M})"
        )
        for region in s.regions:
            print(f"  endpoint {region}: {sim.endpoint(region)}")
        print(f"  LWA token URL: {sim.lwa_url}")
        print(f"  client_id:     {s.client_id}")
        print(f"  client_secret: {s.client_secret}")
        print(f"  seller_id:     {s.seller_id}")
        for region, rc in s.regions.items():
            print(
                f"  refresh_token {region}: {rc.refresh_token}  ({', '.join(rc.marketplace_ids)})"
            )
        print("Press Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    if args.time_scale <= 0 or args.orders_per_day < 0 or not 0 <= args.port <= 65535:
        print("error: --time-scale must be > 0, --orders-per-day >= 0, --port 0-65535")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0
