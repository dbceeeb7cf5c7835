"""``ml-connector sim qad``: run the QAD tenant simulator standalone on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path

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
    parser.add_argument(
        "--renames",
        metavar="FILE.json",
        default=None,
        help='a tenant that spells names differently: a JSON object {"canonical name": '
        '"tenant name"} (paths, browse ids, column keys, field names)',
    )
    parser.add_argument(
        "--unknown-browse",
        choices=("empty", "404"),
        default="empty",
        help="what an unknown browse id answers (default: 200 with no rows)",
    )
    parser.add_argument(
        "--no-metadata",
        action="store_true",
        help="api/qracore/entitymetadatas answers 404 (a tenant that does not expose it)",
    )


def _renames(path: str | None) -> dict[str, str] | None:
    """The --renames file: a JSON object of strings; ValueError with the reason otherwise."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--renames {path}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"--renames {path}: expected a JSON object of name -> name strings")
    return data


async def _serve(args: argparse.Namespace, renames: dict[str, str] | None) -> None:
    from engine.sim.qad import QadSimulator

    tenants = tuple(args.tenant or ["clouderp"])
    async with QadSimulator(
        args.state,
        port=args.port,
        tenants=tenants,
        seed=args.seed,
        renames=renames,
        unknown_browse=args.unknown_browse,
        metadata=not args.no_metadata,
    ) as qad:
        if args.write_latency > 0:
            # First matching rule fires: half the writes wait before the commit, the rest after.
            w = {"path": "/api/erp/", "method": "POST", "times": 0, "delay_s": args.write_latency}
            qad.faults.add("latency", probability=0.5, **w)
            qad.faults.add("commit_then_stall", **w)
        for name in tenants:
            print(f"QAD tenant {name}: {qad.tenant_url(name)}  (state {qad.state_file(name)})")
        print(f"demo user: {qad.username}  password: {qad.password}  client_id: {qad.client_id}")
        if renames:
            print(f"renamed names: {len(qad.renames.to_tenant)}")
        print("press Ctrl-C to stop", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    if args.port < 0 or args.port > 65535:
        print(f"--port {args.port} is not a TCP port")
        return 2
    if not 0 <= args.write_latency <= 60:
        print("--write-latency must be between 0 and 60 seconds")
        return 2
    try:
        renames = _renames(args.renames)
        if renames:
            from engine.sim.qad.names import Renames

            Renames(renames)  # the same checks the simulator makes, before anything starts
    except ValueError as exc:
        print(exc)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(_serve(args, renames))
        except OSError as exc:
            print(f"cannot start the QAD simulator: {exc.strerror or exc}")
            return 1
    return 0
