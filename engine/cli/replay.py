"""``ml-connector replay --db F --parked | --command ID [--config F]``: re-dispatch after a fix.

Re-queueing adds a 'requeued' attempt row (the audit trail keeps the failed attempts). With
``--config`` the re-queued commands are dispatched right away with the QAD client built from
config + vault (or ``--demo-credentials`` for a local simulator); without it the next
``sync``/``run`` picks them up. ``--to-tenant`` (replay into a fresh QAD entity) is not part of
this module.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from engine.adapters.qad.client import QadClient
from engine.cli.status import existing_db
from engine.config import load_config
from engine.dispatch.dispatcher import Dispatcher, RunCounts
from engine.dispatch.handlers import qad_handlers
from engine.dispatch.limits import LimiterRegistry
from engine.dispatch.outbox import Outbox
from engine.dispatch.qad_setup import build_qad_settings
from engine.errors import ConfigError
from engine.log import SQLiteEventLog

__all__ = ["register", "replay", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "replay",
        help="re-queue parked commands (or one command) and optionally dispatch them now",
        description="Re-queue parked commands (--parked) or one command (--command ID) after "
        "the downstream problem was fixed. With --config they are dispatched immediately.",
    )
    parser.add_argument("--db", required=True, help="event log file (SQLite)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--parked", action="store_true", help="every parked command")
    which.add_argument("--command", metavar="ID", help="one command id (see audit/status)")
    parser.add_argument("--config", type=Path, help="config.toml: dispatch immediately")
    parser.add_argument("--vault", type=Path, default=None, help="credential vault file")
    parser.add_argument(
        "--demo-credentials",
        action="store_true",
        help="use the QAD simulator's demo login (local tenant only)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to keep dispatching (default 120)"
    )
    parser.set_defaults(func=run)


async def replay(
    log: SQLiteEventLog,
    *,
    parked: bool,
    command_id: str | None,
    dispatcher: Dispatcher | None = None,
    timeout_s: float = 120.0,
) -> tuple[list[str], RunCounts | None]:
    """Re-queue, then (with a dispatcher) dispatch until nothing is waiting."""
    outbox = Outbox(log)
    await outbox.ensure()
    if parked:
        ids = await outbox.requeue_parked()
    else:
        assert command_id is not None
        if not await outbox.requeue(command_id):
            raise ConfigError(f"no command {command_id!r} in {log.path} (see `audit` for ids)")
        ids = [command_id]
    counts = None
    if dispatcher is not None and ids:
        counts = await dispatcher.run_until_idle(timeout_s)
    return ids, counts


def run(args: argparse.Namespace) -> int:
    path = existing_db(args.db)
    cfg = load_config(args.config) if args.config else None
    settings = (
        build_qad_settings(cfg, vault_path=args.vault, demo=args.demo_credentials)
        if cfg is not None
        else None
    )

    async def main() -> tuple[list[str], RunCounts | None, list[tuple[str, str]]]:
        async with SQLiteEventLog.open(path) as log:
            outbox = Outbox(log)
            if cfg is None or settings is None:
                ids, counts = await replay(log, parked=args.parked, command_id=args.command)
                return ids, counts, []
            async with aiohttp.ClientSession() as session, QadClient(session, settings) as qad:
                dispatcher = Dispatcher(
                    log,
                    outbox,
                    qad_handlers(qad, settings.paths),
                    LimiterRegistry.from_config(cfg.dispatch),
                    cfg.dispatch,
                    only_handled=True,
                )
                ids, counts = await replay(
                    log,
                    parked=args.parked,
                    command_id=args.command,
                    dispatcher=dispatcher,
                    timeout_s=args.timeout,
                )
            still = [(p.command_id, p.reason) for p in await outbox.parked() if p.command_id in ids]
            return ids, counts, still

    ids, counts, still = asyncio.run(main())
    if not ids:
        print("nothing to replay: no parked commands")
        return 0
    print(f"re-queued {len(ids)} command(s)")
    for command_id in ids:
        print(f"  {command_id}")
    if counts is None:
        print("they are pending now; the next `sync` or `run` dispatches them")
        return 0
    done = {k: v for k, v in counts.as_dict().items() if v and k != "attempted"}
    print("dispatched: " + (", ".join(f"{k} {v}" for k, v in done.items()) or "nothing"))
    for command_id, reason in still:
        print(f"  still parked {command_id}: {reason}")
    return 1 if still else 0
