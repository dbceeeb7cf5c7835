"""``ml-connector replay --db F --parked | --command ID | --to-tenant URL --entity E``.

``--parked`` / ``--command``: re-dispatch after a downstream fix. Re-queueing adds a 'requeued'
attempt row (the audit trail keeps the failed attempts). With ``--config`` the re-queued
commands are dispatched right away with the QAD and SP-API clients built from config + vault
(``--demo-credentials``: the local QAD simulator's login; Amazon listing patches are then posted
only if ``--vault`` holds the Amazon credential); without it the next ``sync``/``run`` picks
them up.

``--to-tenant URL --entity E`` (needs ``--config`` for the mapping): replay every event into
another QAD entity and verify it ends with the original's documents; the logic and its
guarantees are in engine/ops/retarget.py, the wiring in engine/ops/replay.py; this module only
parses and prints.

``--db`` is an SQLite file or a PostgreSQL URL; messages name a URL without its password.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from engine.config import load_config
from engine.errors import ConfigError
from engine.ops.replay import plan_tenant_replay, replay_into_tenant, requeue
from engine.ops.retarget import ReplayTarget
from engine.ops.status import existing_log

__all__ = ["register", "run", "run_to_tenant"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "replay",
        help="re-dispatch parked commands, or replay everything into a fresh QAD entity",
        description="Re-queue parked commands (--parked) or one command (--command ID) after "
        "the downstream problem was fixed; with --config they are dispatched immediately. "
        "--to-tenant URL --entity E --config F: replay every event into another QAD entity "
        "(own resumable outbox: beside the db, or a schema of the same PostgreSQL database; "
        "the original trail is untouched), then compare every document the original posted by "
        "reference and amounts; exit 1 on a difference.",
    )
    parser.add_argument(
        "--db", required=True, help="event log: an SQLite file or a postgresql:// URL"
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--parked", action="store_true", help="every parked command")
    which.add_argument("--command", metavar="ID", help="one command id (see audit/status)")
    which.add_argument(
        "--to-tenant",
        metavar="URL",
        help="replay ALL events into this (fresh) QAD tenant and verify the documents",
    )
    parser.add_argument("--entity", help="QAD entity code of --to-tenant (required with it)")
    parser.add_argument(
        "--credential",
        help="vault QAD credential for --to-tenant (default: qad.credential from the config)",
    )
    parser.add_argument(
        "--config", type=Path, help="config.toml: dispatch immediately (required by --to-tenant)"
    )
    parser.add_argument("--vault", type=Path, default=None, help="credential vault file")
    parser.add_argument(
        "--demo-credentials",
        action="store_true",
        help="use the QAD simulator's demo login (local tenant only)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to keep dispatching (default 120; with --to-tenant 24 h: a whole log at "
        "the [dispatch] QAD rate takes a while, and an interrupted replay resumes on rerun)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.to_tenant is not None:
        return run_to_tenant(args)
    if args.entity or args.credential:
        raise ConfigError("--entity and --credential only go with --to-tenant")
    db = existing_log(args.db)
    cfg = load_config(args.config) if args.config else None
    result = asyncio.run(
        requeue(
            db,
            parked=args.parked,
            command_id=args.command,
            cfg=cfg,
            vault_path=args.vault,
            demo=args.demo_credentials,
            timeout_s=args.timeout,
        )
    )
    ids, counts, still = result.ids, result.counts, result.still_parked
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


def run_to_tenant(args: argparse.Namespace) -> int:
    """``--to-tenant URL --entity E``: replay everything into another entity, then verify."""
    if not args.entity:
        raise ConfigError("--to-tenant needs --entity (the target's QAD entity code)")
    if args.config is None:
        raise ConfigError("--to-tenant needs --config (the mapping that derives the commands)")
    target = ReplayTarget.parse(args.to_tenant, args.entity)
    cfg = load_config(args.config)
    # Every argument and the target are checked before the event log is looked at.
    plan = plan_tenant_replay(
        args.db,
        cfg,
        target,
        credential=args.credential,
        vault_path=args.vault,
        demo=args.demo_credentials,
    )
    existing_log(args.db)

    def progress(msg: str) -> None:
        print(f"  {msg}", file=sys.stderr, flush=True)

    print(
        f"replaying {plan.source_label} into {target.tenant_url} entity {target.entity} "
        f"(replay outbox: {plan.outbox.where})",
        flush=True,
    )
    result = asyncio.run(replay_into_tenant(plan, timeout_s=args.timeout, progress=progress))
    done = {k: v for k, v in result.dispatched.as_dict().items() if v and k != "attempted"}
    print(f"replay outbox: {result.outbox} ({result.derived} QAD commands, {result.added} new)")
    print("dispatched this run: " + (", ".join(f"{k} {v}" for k, v in done.items()) or "nothing"))
    for command_id, reason in result.parked[:20]:
        print(f"  parked {command_id}: {reason}")
    if result.waiting:
        print(f"  {result.waiting} command(s) still waiting (retries): rerun to resume")
    print()
    print(result.report.table())
    if result.report.unfinished_in_original:
        print(
            f"({result.report.unfinished_in_original} QAD command(s) the original has not posted "
            "are not compared)"
        )
    for example in result.report.examples:
        print(f"  {example}")
    ok = result.report.clean and not result.parked and not result.waiting
    print("target matches the original" if ok else "target does NOT match the original yet")
    return 0 if ok else 1
