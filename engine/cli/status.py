"""``ml-connector status --db F``: per flow, last poll, lag, events, commands and parked items.

Also warns when a stored LWA client secret expires within 30 days (see engine/security/rotation).

Opens the log read-only (safe beside a running sync). Shows codes, ids and counts only: never
credentials or buyer data (payloads are not printed at all).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from engine.commands.outbox import Outbox
from engine.errors import ConfigError, CredentialError
from engine.log import SQLiteEventLog
from engine.security.keys import load_master_key
from engine.security.rotation import secret_expiry
from engine.security.vault import Vault, default_vault_path

__all__ = ["FLOWS", "Flow", "collect_status", "credential_warnings", "register", "run"]


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    streams: tuple[str, ...]
    projector: str  # tracking consumer is "projector:<name>"
    kinds: tuple[str, ...]  # command kind prefixes
    bookmarks: tuple[str, ...]  # bookmark name prefixes of its pollers


FLOWS = (
    Flow("amazon.orders", ("amazon.orders",), "orders", ("qad.sales_order.",), ("amazon.orders",)),
    Flow(
        "amazon.settlements",
        ("amazon.settlements",),
        "settlements",
        ("qad.invoice.", "qad.journal."),
        ("amazon.settlements",),
    ),
    Flow(
        "amazon.inventory",
        ("amazon.inventory.fba", "amazon.inventory.mfn"),
        "inventory",
        ("qad.inventory.",),
        ("amazon.inventory",),
    ),
    Flow(
        "amazon.listings",
        ("qad.items", "amazon.listings"),
        "catalog",
        ("amazon.listing.",),
        ("qad.items", "amazon.listings"),
    ),
)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "status",
        help="per flow: last poll, lag, events, commands pending/sent/parked",
        description="Show the state of every flow (read-only; safe beside a running sync).",
    )
    parser.add_argument("--db", required=True, help="event log file (SQLite)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--vault",
        help="credential vault to check for LWA client secrets close to expiry (default: "
        "$ML_CONNECTOR_VAULT or ~/.config/ml-connector/vault.bin, checked when it exists)",
    )
    parser.set_defaults(func=run)


def existing_db(db: str) -> Path:
    path = Path(db)
    if not path.is_file():
        raise ConfigError(f"event log {path} not found (pass the file given as [engine] db)")
    return path


async def collect_status(log: SQLiteEventLog) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    outbox = Outbox(log)
    has_outbox = await outbox.has_tables()
    counts = await outbox.counts() if has_outbox else None
    parked = await outbox.parked() if has_outbox else []
    bookmarks = dict(await log.query("SELECT name, state FROM bookmarks ORDER BY name"))
    flows = []
    for flow in FLOWS:
        marks = ",".join("?" * len(flow.streams))
        rows = await log.query(
            "SELECT count(*), max(position), max(recorded_at) FROM events "
            f"WHERE stream IN ({marks})",
            flow.streams,
        )
        events, last_pos, last_at = rows[0]
        tracked = await log.tracking(f"projector:{flow.projector}")
        lag_rows = await log.query(
            f"SELECT count(*) FROM events WHERE stream IN ({marks}) AND position > ?",
            (*flow.streams, tracked),
        )
        states: dict[str, int] = {}
        if counts is not None:
            for kind, by_state in counts.by_kind.items():
                if kind.startswith(flow.kinds):
                    for state, n in by_state.items():
                        states[state] = states.get(state, 0) + n
        drift = 0
        if has_outbox:
            drift_rows = await log.query(
                "SELECT count(*) FROM commands c JOIN attempts a ON a.id = (SELECT max(id) FROM "
                "attempts WHERE command_id = c.command_id) WHERE a.outcome = 'skipped' "
                "AND a.response LIKE 'drift%' AND c.kind LIKE 'qad.inventory.%'"
            )
            drift = int(drift_rows[0][0]) if flow.projector == "inventory" else 0
        polls = {
            name: _bookmark_summary(state)
            for name, state in bookmarks.items()
            if name.startswith(flow.bookmarks)
        }
        flows.append(
            {
                "flow": flow.name,
                "events": int(events),
                "last_event_position": int(last_pos or 0),
                "last_event_at": last_at,
                "polls": polls,
                "projected_to": tracked,
                "lag_events": int(lag_rows[0][0]),
                "commands": {
                    "pending": sum(
                        states.get(s, 0) for s in ("new", "retry", "unknown", "requeued")
                    ),
                    "sent": sum(states.get(s, 0) for s in ("ok", "exists")),
                    "skipped": states.get("skipped", 0),
                    "parked": states.get("parked", 0),
                    "waiting_retry": states.get("retry", 0),
                    "unknown_outcome": states.get("unknown", 0),
                    "drift_reported": drift,
                },
                "parked": [
                    {
                        "what": item.kind,
                        "record_key": item.record_key,
                        "command_id": item.command_id,
                        "reason": item.reason,
                        "at": item.at,
                    }
                    for item in parked
                    if (item.kind == "command" and item.command_id.startswith(flow.kinds))
                    or (item.kind == "record" and item.projector == flow.projector)
                ],
            }
        )
    return {"db": str(log.path), "head": await log.head(), "outbox": has_outbox, "flows": flows}


def _bookmark_summary(state: bytes | str) -> str:
    """Scalar fields of a poller bookmark (watermarks), shortened; lists only as counts."""
    try:
        data = orjson.loads(state)
    except orjson.JSONDecodeError:
        return "(unreadable)"
    if not isinstance(data, dict):
        return str(data)[:80]
    parts = []
    for key, value in data.items():
        if isinstance(value, list | dict):
            parts.append(f"{key}=[{len(value)}]")
        else:
            parts.append(f"{key}={value}")
    text = " ".join(parts)
    return text if len(text) <= 120 else text[:117] + "..."


def render(status: dict[str, Any], out: Any) -> None:
    w = out.write
    w(f"event log {status['db']}  head position {status['head']}\n")
    if not status["outbox"]:
        w("(no commands yet: the projectors have not run on this log)\n")
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
        w(
            f"  commands       pending {c['pending']}  sent {c['sent']}  skipped {c['skipped']}  "
            f"parked {c['parked']}{extra}\n"
        )
        if c["drift_reported"]:
            w(f"  drift          {c['drift_reported']} item(s) differ (report mode)\n")
        for p in f["parked"]:
            label = p["command_id"] if p["what"] == "command" else f"record {p['record_key']}"
            w(f"  PARKED         {label}: {p['reason']}\n")
    creds = status.get("credentials")
    if creds is not None:
        w("\ncredentials\n")
        if not creds["checked"]:
            w(f"  not checked    (no readable vault at {creds['vault']}; pass --vault)\n")
        elif not creds["warnings"]:
            w("  ok             no LWA client secret expires within 30 days\n")
        for item in creds["warnings"]:
            w(f"  {item['level']:<14} {item['message']}: {item['fix']}\n")


def credential_warnings(vault_arg: str | None, today: date | None = None) -> dict[str, Any]:
    """LWA secret-expiry notices from the vault. An explicit --vault must open; the default
    vault is checked only when it exists and its key is available (status stays read-only)."""
    path = Path(vault_arg) if vault_arg else default_vault_path()
    if not vault_arg and not path.is_file():
        return {"checked": False, "vault": str(path), "warnings": []}
    try:
        vault = Vault.open(path, load_master_key(create=False))
    except CredentialError:
        if vault_arg:
            raise
        return {"checked": False, "vault": str(path), "warnings": []}
    day = today or datetime.now(UTC).date()
    warnings = []
    for _, name in vault.names("amazon"):
        notice = secret_expiry(vault.get_amazon(name), day)
        if notice is not None:
            level = "EXPIRED" if notice.failed else "WARNING"
            warnings.append({"level": level, "message": notice.message, "fix": notice.fix})
    return {"checked": True, "vault": str(path), "warnings": warnings}


def run(args: argparse.Namespace) -> int:
    path = existing_db(args.db)

    async def main() -> dict[str, Any]:
        async with SQLiteEventLog.open(path, readonly=True) as log:
            return await collect_status(log)

    status = asyncio.run(main())
    status["credentials"] = credential_warnings(args.vault)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(status, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render(status, sys.stdout)
    return 0
