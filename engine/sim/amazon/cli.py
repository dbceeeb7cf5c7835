"""Command-line entry of the Amazon SP-API simulator: ``ml-connector sim amazon``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

DESCRIPTION = (
    "Run the Amazon SP-API + LWA simulator on 127.0.0.1 (regions as path prefixes /na, /eu, /fe) "
    "and print the endpoints and demo credentials it accepts. --quiet-days gives a business "
    "that no longer changes: its history ends that many days before now, the simulated clock "
    "still reads the real time (17+ days: every refund is in the past), for reproducible runs."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (same seed, same business)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulated s per real s")
    parser.add_argument("--orders-per-day", type=int, default=40, help="new orders per sim day")
    parser.add_argument("--no-rate-limits", action="store_true", help="turn usage plans off")
    parser.add_argument(
        "--history-days", type=int, default=28, help="days of order history before the start"
    )
    parser.add_argument(
        "--total-orders",
        type=int,
        default=None,
        help="spread exactly this many orders over the history (default: --orders-per-day each)",
    )
    parser.add_argument(
        "--start",
        default=None,
        metavar="ISO",
        help="simulated start time, e.g. 2026-03-02T12:00:00Z for a reproducible run "
        "(default: the real time, so a client's 2-minute rule and windows match its own clock)",
    )
    parser.add_argument(
        "--deny-role",
        action="append",
        default=[],
        metavar="ROLE",
        help="take this SP-API role from the seller (Amazon's name, e.g. \"Finance and "
        'Accounting"; repeatable): calls that need it answer 403 like Amazon',
    )
    parser.add_argument(
        "--not-participating",
        action="append",
        default=[],
        metavar="MARKETPLACE_ID",
        help="getMarketplaceParticipations reports isParticipating=false there (repeatable)",
    )
    parser.add_argument(
        "--listing-delay-minutes",
        type=float,
        default=5.0,
        help="simulated minutes until an ACCEPTED listings submission shows on read-back "
        "(Amazon: 'a few minutes')",
    )
    parser.add_argument(
        "--quiet-days",
        type=float,
        default=0.0,
        help="start the business this many days before --start (or now) and jump the clock "
        "forward by as much: no new orders in that span (use with --orders-per-day 0)",
    )


def _start(args: argparse.Namespace) -> datetime:
    # Default "now": a client compares its own clock with the simulator's (the 2-minute rule,
    # order windows); a fixed date in the past made every standalone sync fail that rule.
    if args.start is None or args.start == "now":
        return datetime.now(UTC)
    t = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


async def _serve(args: argparse.Namespace, start: datetime | None) -> None:
    from engine.sim.amazon import AmazonSimulator
    from engine.sim.amazon.sellers import SellerConfig

    quiet = timedelta(days=args.quiet_days)
    async with AmazonSimulator(
        sellers=[SellerConfig(not_participating=tuple(args.not_participating))],
        denied_roles=args.deny_role,
        seed=args.seed,
        time_scale=args.time_scale,
        orders_per_day=args.orders_per_day,
        port=args.port,
        rate_limits=not args.no_rate_limits,
        history_days=args.history_days,
        total_orders=args.total_orders,
        listing_delay_s=args.listing_delay_minutes * 60.0,
        start=None if start is None else start - quiet,
    ) as sim:
        if quiet:
            sim.clock.advance(quiet)  # the data is anchored quiet days back; the clock is not
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
        if args.deny_role:
            print(f"  roles denied:  {', '.join(args.deny_role)}")
        print("Press Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    if args.time_scale <= 0 or args.orders_per_day < 0 or not 0 <= args.port <= 65535:
        print("error: --time-scale must be > 0, --orders-per-day >= 0, --port 0-65535")
        return 2
    if args.history_days < 0 or (args.total_orders or 0) < 0 or args.quiet_days < 0:
        print("error: --history-days, --total-orders and --quiet-days must be >= 0")
        return 2
    if not args.listing_delay_minutes >= 0:
        print("error: --listing-delay-minutes must be >= 0")
        return 2
    from engine.sim.amazon.roles import canonical_role

    try:
        args.deny_role = [canonical_role(r) for r in args.deny_role]
    except ValueError as exc:
        print(f"error: --deny-role: {exc}")
        return 2
    try:
        start = _start(args)
    except ValueError:
        print(f"error: --start {args.start!r} is not an ISO date-time")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args, start))
    return 0
