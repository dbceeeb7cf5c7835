"""``ml-connector sync`` / ``run`` / ``rebuild``: move Amazon business into QAD."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from typing import Any

from engine.cli._engine import add_config_arguments, config_from, vault_from
from engine.cli._logging import console
from engine.cli._service import run_service
from engine.cli.worker import add_worker_arguments, run_worker
from engine.errors import ConfigError
from engine.ops import session
from engine.ops.rebuild import RebuildDiff, rebuild_and_dispatch, rebuild_only
from engine.ops.status import existing_log


def register(sub: Any) -> None:
    sync = sub.add_parser(
        "sync",
        help="poll Amazon, project, post to QAD (once, or forever)",
        description="Run pollers, projectors and the dispatcher. With --once: one catch-up pass "
        "that ends when nothing more is due (retries included), then exit. Without: keep "
        "syncing on the [poll] cadences until Ctrl-C (same as `ml-connector run`).",
    )
    add_config_arguments(sync)
    sync.add_argument("--once", action="store_true", help="catch up once, then exit")
    sync.set_defaults(func=run_sync)

    run = sub.add_parser(
        "run",
        help="long-running scheduler (SIGTERM/SIGINT stop it gracefully, SIGHUP reloads)",
        description="Poll each flow on its cadence from [poll], project and dispatch after each "
        "poll. On SIGTERM/SIGINT: stop polling, let in-flight posts finish (up to --drain "
        "seconds, then record them as unknown for a safe look-up later), exit 0. On SIGHUP: "
        "re-read --config; a config that loads replaces the running one (drained like "
        "SIGTERM, then started again in this process), one that does not is refused and the "
        "engine keeps running.",
    )
    add_config_arguments(run)
    run.add_argument("--drain", type=float, default=30.0, help="seconds to finish in-flight posts")
    add_worker_arguments(run)
    run.set_defaults(func=run_forever)

    rebuild = sub.add_parser(
        "rebuild",
        help="re-derive all commands after a mapping change; post only the difference",
        description="Re-run every projector from position 0 with side effects suppressed, diff "
        "against the commands already derived, and add only the new ones (never a duplicate "
        "QAD document: command ids are deterministic). --dry-run prints the diff only. Without "
        "--dry-run and with credentials, the new commands are dispatched at once.",
    )
    add_config_arguments(rebuild)
    rebuild.add_argument("--db", help="event log (default: [engine] db from the config)")
    rebuild.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    rebuild.add_argument(
        "--no-dispatch", action="store_true", help="add the commands but do not post them now"
    )
    rebuild.set_defaults(func=run_rebuild)


def _progress(msg: str) -> None:
    console(f"  {msg}")


def run_sync(args: argparse.Namespace) -> int:
    if not args.once:
        args.drain = 30.0
        return run_forever(args)
    cfg = config_from(args)
    report = asyncio.run(session.sync_once(cfg, vault_path=vault_from(args), progress=_progress))
    console(
        f"sync: {report.projected} events projected, "
        f"dispatched {report.dispatched or 'nothing'}"
        + (f", poll errors: {report.poll_errors}" if report.poll_errors else ""),
        stream=sys.stdout,
    )
    for name, reason in sorted(report.refused.items()):
        # A refused flow (403: missing role; revoked grant) stopped only itself: the other
        # flows landed; exit 1 so a scheduler notices, `status` shows it until it works again.
        role = report.refused_roles.get(name)
        hint = f" (probably missing SP-API role '{role}')" if role else ""
        console(f"refused {name}: {reason}{hint}; other flows synced", level=logging.WARNING)
    if report.parked_total:
        # Parks (unmapped SKUs, rejected posts) are expected business states, not a failed
        # run: the exit code stays 0 (1 only for poll errors), but the pass never ends silent.
        console(
            f"{report.parked_total} record(s) need attention (parked): see `ml-connector status`",
            level=logging.WARNING,
        )
    return 1 if report.poll_errors else 0


def run_forever(args: argparse.Namespace) -> int:
    if getattr(args, "worker", False):
        return run_worker(args)
    if getattr(args, "partitions", None):
        raise ConfigError("--partitions needs --worker (one process runs one config)")
    # SIGTERM/SIGINT drain and stop, SIGHUP reloads the config (engine/cli/_service.py).
    return run_service(args)


def run_rebuild(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    # Rebuilding re-derives from an existing log: never create one (also not with --dry-run).
    db = existing_log(args.db or cfg.engine.db)
    if args.db:  # the engine (used to dispatch) opens [engine] db: make it --db
        cfg = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, db=str(db)))
    if args.dry_run or args.no_dispatch:
        diff = asyncio.run(rebuild_only(cfg, db, dry_run=args.dry_run))
        _print_diff(diff, dry_run=args.dry_run)
        return 0
    counts = asyncio.run(
        rebuild_and_dispatch(
            cfg,
            vault_path=vault_from(args),
            rebuilt=lambda diff: _print_diff(diff, dry_run=False),
        )
    )
    print(f"dispatched: {counts.as_dict()}")
    return 0


def _print_diff(diff: RebuildDiff, *, dry_run: bool) -> None:
    verb = "would add" if dry_run else "added"
    print(f"rebuild: {diff.events} events re-projected, {diff.derived} commands derived")
    # The diff keeps bounded samples (a rebuild streams); the counts are exact.
    print(f"  {verb} {diff.new_count} new commands")
    for cmd in diff.new[:50]:
        print(f"    + {cmd.kind} {cmd.reference}")
    if diff.new_count > 50:
        print(f"    ... and {diff.new_count - 50} more")
    if diff.no_longer_derived_count:
        print(
            f"  {diff.no_longer_derived_count} earlier commands are no longer derived "
            "(already posted documents are left as they are; correct them in QAD if needed)"
        )
    for key in diff.resolved_parks:
        print(f"    resolved park: {key}")
    if diff.resolved_parks_count > len(diff.resolved_parks):
        print(f"    ... and {diff.resolved_parks_count - len(diff.resolved_parks)} more resolved")
    for park in diff.new_parks:
        print(f"    parked: {park.record_key}: {park.reason}")
    if diff.new_parks_count > len(diff.new_parks):
        print(f"    ... and {diff.new_parks_count - len(diff.new_parks)} more parked")
