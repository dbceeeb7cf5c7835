"""What ``ml-connector status`` shows, as plain data: per-flow counts, lag and parked items, and
LWA client-secret expiry warnings from the vault. Also ``existing_db`` (status, audit, replay)
and ``existing_log`` (the same check, passing a PostgreSQL URL through to the server).

Runs on either event-log backend (``EventLog``): SQLite-only SQL is chosen by
``log.capabilities.backend`` where the two differ.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from engine.commands.outbox import Outbox
from engine.config.database import is_postgresql_url
from engine.dispatch.listing_handlers import NOT_APPLIED, VERIFY_KIND
from engine.errors import ConfigError, CredentialError, StoreError
from engine.log import EventLog
from engine.log.schema import region_of_source_sql
from engine.ops.flow_health import read_health
from engine.ops.freshness import freshness_summary
from engine.ops.leases import LeaseTable
from engine.security.keys import load_master_key
from engine.security.rotation import secret_expiry
from engine.security.vault import Vault, default_vault_path

__all__ = [
    "FLOWS",
    "Flow",
    "collect_status",
    "credential_warnings",
    "existing_db",
    "existing_log",
]

PENDING_STATES = ("new", "retry", "unknown", "requeued")  # waiting to be sent (again)
FLAGGED_SHOWN = 50  # listing patches not applied: the newest ones listed (all are counted)


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


def existing_db(db: str | Path) -> Path:
    """``db`` if it names an existing, non-empty event log file; for commands that need one.

    A wrong path (missing, a directory) is a ConfigError (exit 2); a zero-length file is a
    StoreError (exit 1): it is no log, and a writing open would silently start a new one there.
    Never creates anything; the file's content is checked when the log opens it.
    """
    path = Path(db)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"event log {path} not found (pass the file given as [engine] db)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"event log {path} cannot be accessed: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"event log {path} is a directory, not an event log file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"event log {path} is not a regular file")
    if st.st_size == 0:
        raise StoreError(f"event log {path} is empty (0 bytes), not an event log")
    return path


def existing_log(db: str | Path) -> str | Path:
    """``db`` for a command that reads an existing log: a PostgreSQL URL as it is (no file to
    check; the server answers for the database when the log opens), else ``existing_db``."""
    if is_postgresql_url(db):
        return str(db)
    return existing_db(db)


async def collect_status(log: EventLog) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    outbox = Outbox(log)
    has_outbox = await outbox.has_tables()
    counts = await outbox.counts() if has_outbox else None
    parked = await outbox.parked() if has_outbox else []
    needs_attention = await outbox.needs_attention() if has_outbox else 0
    # Sorted here, not by ORDER BY: a PostgreSQL collation may order names unlike SQLite.
    bookmarks = dict(sorted(await log.query("SELECT name, state FROM bookmarks")))
    health = await read_health(log)  # refused / failed flows per region (engine/ops/flow_health)
    stats = await _stream_stats(log)
    # "+stream" keeps SQLite's planner off the stream index (see below); PostgreSQL has no
    # unary plus on text, and its cost-based planner picks the position range on its own.
    stream_col = "+stream" if log.capabilities.backend == "sqlite" else "stream"
    flows = []
    for flow in FLOWS:
        marks = ",".join("?" * len(flow.streams))
        events, last_pos, last_at, events_by_region = _flow_stats(stats, flow.streams)
        tracked = await log.tracking(f"projector:{flow.projector}")
        lag = 0
        if last_pos > tracked:  # else caught up: nothing to count
            # By position (SQLite kept off the stream index by stream_col): the scan costs the
            # events since the oldest one not projected yet, not the whole history.
            lag_rows = await log.query(
                f"SELECT count(*) FROM events WHERE position > ? AND {stream_col} IN ({marks})",
                (tracked, *flow.streams),
            )
            lag = int(lag_rows[0][0])
        regions = _by_region(events_by_region, counts, flow.kinds)
        states: dict[str, int] = {}
        if counts is not None:
            for kind, by_state in counts.by_kind.items():
                if kind == VERIFY_KIND:
                    continue  # read-backs of listing patches: counted in "listing_checks"
                if kind.startswith(flow.kinds):
                    for state, n in by_state.items():
                        states[state] = states.get(state, 0) + n
        drift = 0
        if counts is not None and flow.projector == "inventory":  # the flow that reports drift
            drift = sum(
                by_state.get("skipped:drift", 0)
                for kind, by_state in counts.flagged_skips.items()
                if kind.startswith("qad.inventory.")
            )
        flow_parked = [
            item
            for item in parked
            if (item.kind == "command" and item.command_id.startswith(flow.kinds))
            or (item.kind == "record" and item.projector == flow.projector)
        ]
        parked_records = sum(1 for item in flow_parked if item.kind == "record")
        polls = {
            name: _bookmark_summary(state)
            for name, state in bookmarks.items()
            if name.startswith(flow.bookmarks)
        }
        flows.append(
            {
                "flow": flow.name,
                "events": int(events),
                # per region: events, and commands by the region of their first event
                "by_region": regions,
                "last_event_position": int(last_pos or 0),
                "last_event_at": last_at,
                "polls": polls,
                "projected_to": tracked,
                "lag_events": lag,
                "commands": {
                    "pending": sum(states.get(s, 0) for s in PENDING_STATES),
                    "sent": sum(states.get(s, 0) for s in ("ok", "exists")),
                    "skipped": states.get("skipped", 0),
                    # What needs a human in this flow: parked commands + open record parks.
                    "parked": states.get("parked", 0) + parked_records,
                    "parked_commands": states.get("parked", 0),
                    "parked_records": parked_records,
                    "waiting_retry": states.get("retry", 0),
                    "unknown_outcome": states.get("unknown", 0),
                    "drift_reported": drift,
                },
                "health": [h for h in health if h["group"] == flow.name],
                # inventory: marketplaces whose stock is unknown (report CANCELLED/FATAL...)
                "degraded": _degraded(bookmarks, flow.bookmarks),
                **(
                    {"listing_checks": await _listing_checks(log, counts)}
                    if has_outbox and counts is not None and flow.projector == "catalog"
                    else {}
                ),
                "parked": [
                    {
                        "what": item.kind,
                        "record_key": item.record_key,
                        "command_id": item.command_id,
                        "reason": item.reason,
                        "at": item.at,
                    }
                    for item in flow_parked
                ],
            }
        )
    return {
        "db": log.label,  # a file path or postgresql://host:port/db
        "head": await log.head(),
        "outbox": has_outbox,
        # Outbox.needs_attention: parked commands + open record parks, all flows.
        "needs_attention": needs_attention,
        "flows": flows,
        # every flow's last state; "disabled" = refused by Amazon (e.g. a missing role)
        "health": health,
        # order freshness p50/p95 per flow and region, last hour / day (engine/ops/freshness)
        "freshness": await freshness_summary(log),
        "disabled": [h["flow"] for h in health if h["state"] == "refused"],
        # run --worker (PostgreSQL): which worker polls which partition of the database
        "leases": await _leases(log),
    }


async def _leases(log: EventLog) -> list[dict[str, Any]]:
    if log.capabilities.backend != "postgresql":
        return []
    [(present,)] = await log.query("SELECT to_regclass('mlc_control.partition_leases') IS NOT NULL")
    if not present:
        return []
    return [
        {"partition": h.partition, "worker": h.holder, "live": h.live}
        for h in await LeaseTable(log, "", 0).holders()
    ]


def _by_region(
    events: dict[str, int], counts: Any, kinds: tuple[str, ...]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {
        r: {"events": n, "pending": 0, "sent": 0, "parked": 0} for r, n in events.items()
    }
    for (kind, region), by_state in counts.by_kind_region.items() if counts else ():
        if kind == VERIFY_KIND or not kind.startswith(kinds):
            continue
        row = out.setdefault(region, {"events": 0, "pending": 0, "sent": 0, "parked": 0})
        row["pending"] += sum(by_state.get(s, 0) for s in PENDING_STATES)
        row["sent"] += by_state.get("ok", 0) + by_state.get("exists", 0)
        row["parked"] += by_state.get("parked", 0)
    return out


async def _stream_stats(log: EventLog) -> dict[tuple[str, str], tuple[int, int, str | None]]:
    """(stream, region) -> (events, newest position, newest recorded_at as ISO text): the
    trigger-kept counts of SQLite schema version 2 (engine.log.schema), or counted from the
    events (an older file opened read-only, which a writing open migrates; a PostgreSQL log,
    which keeps no such table)."""
    have = "stream_stats" in await log.tables()
    sql = (
        "SELECT stream, region, events, last_position, last_recorded_at FROM stream_stats"
        if have
        else f"SELECT stream, {region_of_source_sql('source')}, count(*), max(position), "
        "max(recorded_at) FROM events GROUP BY 1, 2"
    )
    return {
        (str(r[0]), str(r[1])): (int(r[2]), int(r[3]), _iso_text(r[4]))
        for r in await log.query(sql)
    }


def _iso_text(value: Any) -> str | None:
    """SQLite stores recorded_at as ISO text; PostgreSQL returns its TIMESTAMPTZ as a datetime:
    the same text either way (UTC, ``isoformat``, as the SQLite log writes it)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return None if value is None else str(value)


def _flow_stats(
    stats: dict[tuple[str, str], tuple[int, int, str | None]], streams: tuple[str, ...]
) -> tuple[int, int, str | None, dict[str, int]]:
    """A flow's events, newest position and time, and its events per region."""
    mine = [(region, v) for (stream, region), v in stats.items() if stream in streams]
    by_region: dict[str, int] = {}
    for region, v in mine:
        by_region[region] = by_region.get(region, 0) + v[0]
    if not mine:
        return 0, 0, None, by_region
    return (
        sum(v[0] for _, v in mine),
        max(v[1] for _, v in mine),
        max((v[2] for _, v in mine if v[2] is not None), default=None),
        by_region,
    )


async def _listing_checks(log: EventLog, counts: Any) -> dict[str, Any]:
    """Read-backs of accepted listing patches (engine/dispatch/listing_handlers.py): waiting,
    confirmed, and the patches Amazon accepted but did not apply within the window."""
    states = counts.by_kind.get(VERIFY_KIND, {})
    not_applied = counts.flagged_skips.get(VERIFY_KIND, {}).get("skipped:not-applied", 0)
    rows: list[Any] = []
    if not_applied:  # the newest flagged ones (a scan: only when the counts say there are any)
        rows = await log.query(
            "SELECT c.command_id, c.record_key, a.response, a.at FROM commands c JOIN attempts a "
            "ON a.id = (SELECT max(id) FROM attempts WHERE command_id = c.command_id) "
            "WHERE c.kind = ? AND a.outcome = 'skipped' AND a.response LIKE ? "
            "ORDER BY c.seq DESC LIMIT ?",
            (VERIFY_KIND, f"{NOT_APPLIED}%", FLAGGED_SHOWN),
        )
        rows.reverse()
    return {
        "waiting": sum(states.get(s, 0) for s in ("new", "verifying", "retry", "unknown")),
        "applied": states.get("ok", 0),
        "not_applied": not_applied,
        "flagged": [
            {"command_id": r[0], "record_key": r[1], "reason": r[2], "at": r[3]} for r in rows
        ],
    }


def _degraded(bookmarks: dict[str, Any], prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Pollers' ``degraded`` bookmark entries (engine/pollers/inventory.py): per marketplace
    why its snapshot is unknown, since when, how many times in a row."""
    out: list[dict[str, Any]] = []
    for name, state in bookmarks.items():
        if not name.startswith(prefixes):
            continue
        try:
            data = orjson.loads(state)
        except orjson.JSONDecodeError:
            continue
        entries = data.get("degraded") if isinstance(data, dict) else None
        for mp, d in sorted(entries.items()) if isinstance(entries, dict) else []:
            if isinstance(d, dict):
                out.append({"poller": name, "marketplace": mp, **d})
    return out


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
