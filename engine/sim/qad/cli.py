"""``ml-connector sim qad``: run the QAD tenant simulator standalone on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

DESCRIPTION = (
    "Run a simulated QAD Adaptive ERP tenant on 127.0.0.1 (state kept in an SQLite file) "
    "until interrupted."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free)")
    parser.add_argument(
        "--state", default="qad-sim.db", help="SQLite state file (kept across restarts)"
    )
    parser.add_argument(
        "--tenant",
        action="append",
        default=None,
        help="tenant context root; repeat for several tenants (default: clouderp)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    parser.add_argument(
        "--write-latency",
        type=float,
        default=0.0,
        metavar="S",
        help="every business write (POST /api/erp/...) waits S seconds, at random (seeded) "
        "before or after its commit, so writes are in flight for a while (crash tests)",
    )


async def _serve(args: argparse.Namespace) -> None:
    from engine.sim.qad import QadSimulator

    tenants = tuple(args.tenant or ["clouderp"])
    async with QadSimulator(args.state, port=args.port, tenants=tenants, seed=args.seed) as qad:
        if args.write_latency > 0:
            # First matching rule fires: half the writes wait before the commit, the rest after.
            w = {"path": "/api/erp/", "method": "POST", "times": 0, "delay_s": args.write_latency}
            qad.faults.add("latency", probability=0.5, **w)
            qad.faults.add("commit_then_stall", **w)
        for name in tenants:
            print(f"QAD tenant {name}: {qad.tenant_url(name)}  (state {qad.state_file(name)})")
        print(f"demo user: {qad.username}  password: {qad.password}  client_id: {qad.client_id}")
        print("press Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    if args.port < 0 or args.port > 65535:
        print(f"--port {args.port} is not a TCP port")
        return 2
    if not 0 <= args.write_latency <= 60:
        print("--write-latency must be between 0 and 60 seconds")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(_serve(args))
        except OSError as exc:
            print(f"cannot start the QAD simulator: {exc.strerror or exc}")
            return 1
    return 0
