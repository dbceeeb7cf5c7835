"""``ml-connector status --db F|URL``: per flow, last poll, lag, events, commands and parked items.

Also warns when a stored LWA client secret expires within 30 days (see engine/security/rotation).

Opens the log read-only (safe beside a running sync): an SQLite file or a PostgreSQL URL.
Shows codes, ids and counts only: never credentials or buyer data (payloads are not printed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from engine.config import load_config
from engine.errors import ConfigError
from engine.log.opening import open_event_log
from engine.ops.status import (
    collect_status,
    credential_warnings,
    existing_db,
    existing_log,
)
from engine.ops.status_check import CheckResult, check_status

# existing_db is re-exported: engine/cli/replay.py imports it from here.
__all__ = ["existing_db", "register", "render", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "status",
        help="per flow: last poll, lag, events, commands pending/sent/parked",
        description="Show the state of every flow (read-only; safe beside a running sync).",
    )
    parser.add_argument(
        "--db", required=True, help="event log: an SQLite file or a postgresql:// URL"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--vault",
        help="credential vault to check for LWA client secrets close to expiry (default: "
        "$ML_CONNECTOR_VAULT or ~/.config/ml-connector/vault.bin, checked when it exists)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="for cron/Nagios/systemd timers: exit 1 with one line per problem (a late, "
        "failing, paused or disabled flow; parked items over --max-parked), else 0",
    )
    parser.add_argument(
        "--max-parked", type=int, default=0, metavar="N", help="--check: parked items allowed"
    )
    parser.add_argument("--config", help="--check: config.toml whose [poll] cadences apply")
    parser.set_defaults(func=run)


def render(status: dict[str, Any], out: Any) -> None:
    w = out.write
    w(f"event log {status['db']}  head position {status['head']}\n")
    if not status["outbox"]:
        w("(no commands yet: the projectors have not run on this log)\n")
    w(f"needs attention {status['needs_attention']} parked (commands and records)\n")
    for lease in status.get("leases", []):  # run --worker: who polls each partition
        state = "" if lease["live"] else "  (expired: taken over by the next worker)"
        w(f"partition      {lease['partition']} polled by {lease['worker']}{state}\n")
    for f in status["flows"]:
        c = f["commands"]
        w(f"\n{f['flow']}\n")
        if f["polls"]:
            for name, summary in f["polls"].items():
                w(f"  last poll      {name}: {summary}\n")
        else:
            w("  last poll      never\n")
        w(f"  events         {f['events']}  (last at {f['last_event_at'] or '-'})\n")
        w(
            f"  lag            {f['lag_events']} event(s) not projected "
            f"(projected to position {f['projected_to']})\n"
        )
        extra = ""
        if c["waiting_retry"] or c["unknown_outcome"]:
            extra = f"  (retry {c['waiting_retry']}, unknown outcome {c['unknown_outcome']})"
        if c["parked_records"]:
            extra = f" ({c['parked_commands']} command(s), {c['parked_records']} record(s))" + extra
        w(
            f"  commands       pending {c['pending']}  sent {c['sent']}  skipped {c['skipped']}  "
            f"parked {c['parked']}{extra}\n"
        )
        if c["drift_reported"]:
            w(f"  drift          {c['drift_reported']} item(s) differ (report mode)\n")
        lc = f.get("listing_checks")  # read-backs of accepted listing patches
        if lc and (lc["waiting"] or lc["not_applied"]):
            w(f"  read-backs     waiting {lc['waiting']}  applied {lc['applied']}\n")
        for n in lc["flagged"] if lc else []:
            w(f"  NOT APPLIED    {n['command_id']}: {n['reason']}\n")
        for h in f.get("health", []):
            _health_line(w, h)
        for d in f.get("degraded", []):  # stock unknown: nothing aligned from it
            w(
                f"  DEGRADED       {d['poller']} {d['marketplace']} since {d.get('since')} "
                f"({d.get('times')}x): {d.get('reason')}\n"
            )
        for p in f["parked"]:
            label = p["command_id"] if p["what"] == "command" else f"record {p['record_key']}"
            w(f"  PARKED         {label}: {p['reason']}\n")
    _freshness(w, status.get("freshness"))
    for h in status.get("health", []):
        if h["group"] not in {f["flow"] for f in status["flows"]}:  # the dispatcher
            w(f"\n{h['flow']}\n")
            _health_line(w, h)
    creds = status.get("credentials")
    if creds is not None:
        w("\ncredentials\n")
        if not creds["checked"]:
            w(f"  not checked    (no readable vault at {creds['vault']}; pass --vault)\n")
        elif not creds["warnings"]:
            w("  ok             no LWA client secret expires within 30 days\n")
        for item in creds["warnings"]:
            w(f"  {item['level']:<14} {item['message']}: {item['fix']}\n")


def _freshness(w: Any, fresh: dict[str, Any] | None) -> None:
    """p50/p95 of LastUpdateDate -> QAD post per flow (all regions, then each), hour and day."""
    if not fresh or not fresh.get("now"):
        return
    w(f"\nfreshness (Amazon LastUpdateDate -> QAD post, as of {fresh['now']})\n")
    for window, rows in fresh["windows"].items():
        for r in rows:
            label = f"{r['flow']}{'' if r['region'] == '*' else ':' + r['region']}"
            w(
                f"  last {window:<5}  {label:<20} p50 {r['p50_s'] / 60:.1f} min  "
                f"p95 {r['p95_s'] / 60:.1f} min  ({r['count']} posted)\n"
            )


def _health_line(w: Any, h: dict[str, Any]) -> None:
    """A refused (disabled) or failed flow of one region; nothing for a healthy one."""
    if h["state"] == "ok":
        return
    label = "DISABLED" if h["state"] == "refused" else "FAILED"
    role = f"; probably missing SP-API role '{h['role']}'" if h["role"] else ""
    w(f"  {label:<14} {h['flow']} since {h['since']}: {h['reason']}{role}\n")
    nxt = f"next try {h['next_try']}; " if h["next_try"] else ""
    w(f"  {'':<14} {nxt}fix: {h['fix']}\n")


def run(args: argparse.Namespace) -> int:
    target = existing_log(args.db)  # a file is checked first; a URL goes to its server
    if args.check:
        return run_check(target, args)

    async def main() -> dict[str, Any]:
        async with open_event_log(target, readonly=True) as log:
            return await collect_status(log)

    status = asyncio.run(main())
    status["credentials"] = credential_warnings(args.vault)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(status, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render(status, sys.stdout)
    return 0


def run_check(target: str | Path, args: argparse.Namespace) -> int:
    """``status --check`` (engine/ops/status_check.py): 0 all well, 1 one line per problem."""
    if args.max_parked < 0:
        raise ConfigError("--max-parked must be 0 or more")
    poll = load_config(args.config).poll if args.config else None

    async def main() -> CheckResult:
        async with open_event_log(target, readonly=True) as log:
            return await check_status(log, poll, max_parked=args.max_parked)

    result = asyncio.run(main())
    sys.stdout.write("".join(line + "\n" for line in result.lines()))
    return 0 if result.ok else 1
