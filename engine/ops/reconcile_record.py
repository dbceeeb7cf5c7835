"""The last ``reconcile`` outcome per settlement, kept in the event log for the status page.

``reconcile`` reads QAD back, which the status page must not do on every render (it would put
the tenant's read load on a page refresh, and the page may run without QAD credentials). So
each ``reconcile`` run records what it found per settlement, and the settlements page shows it
with when it was checked: "ok", "different", "missing" or "parked", never a guess.

Stored as one bookmark (the log's small mutable key/value room), merged per settlement so a
``--since`` run only refreshes what it checked. Bounded: one entry per settlement in the log,
at most ``MAX_PROBLEMS`` short texts each, no buyer data (documents, accounts, amounts' names).
Either backend: the merge reads the bookmark inside the write transaction (on PostgreSQL with
its row locked, so two runs at once never drop each other's settlements).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.reconcile import OK, ReconcileReport

__all__ = ["RECONCILE_BOOKMARK", "record_outcome", "recorded_outcomes"]

RECONCILE_BOOKMARK = "reconcile.last"
MAX_PROBLEMS = 5


def _entry(check: Any, at: str) -> dict[str, Any]:
    problems = [
        f"{d.kind} {d.reference}: {d.status}"
        + (f" ({', '.join(d.differences)})" if d.differences else "")
        for d in check.docs
        if d.status != OK
    ]
    unmatched = sum(1 for o in check.orders if o.status != "matched")
    if unmatched:
        problems.append(f"{unmatched} order(s) not matched")
    if check.parked:
        problems.insert(0, f"parked: {check.parked}")
    return {
        "status": check.status,
        "orders_ok": check.orders_ok,
        "problems": problems[:MAX_PROBLEMS],
        "checked_at": at,
    }


async def record_outcome(db: str | Path, report: ReconcileReport, at: datetime) -> int:
    """Merge this run's outcome per settlement into the log ``db`` (an SQLite file or a
    PostgreSQL URL, as ``[engine] db``); returns how many were recorded."""
    stamp = at.isoformat(timespec="seconds")
    entries = {c.settlement_id: _entry(c, stamp) for c in report.settlements}
    async with open_event_log(db) as log, log.transaction() as tx:
        # SQLite's write transaction already excludes every other writer; PostgreSQL's runs
        # beside others, so the row (inserted empty by the first run ever) is locked until
        # COMMIT: a second run waits, then reads the first's merge instead of overwriting it.
        lock = ""
        if log.capabilities.backend == "postgresql":
            lock = " FOR UPDATE"
            await tx.execute(
                "INSERT OR IGNORE INTO bookmarks (name, state) VALUES (?, ?)",
                (RECONCILE_BOOKMARK, b"{}"),
            )
        sql = f"SELECT state FROM bookmarks WHERE name = ?{lock}"
        rows = await tx.fetchall(sql, (RECONCILE_BOOKMARK,))
        old: dict[str, Any] = orjson.loads(rows[0][0]) if rows else {}
        merged = {**dict(old.get("settlements") or {}), **entries}
        await tx.set_bookmark(RECONCILE_BOOKMARK, {"at": stamp, "settlements": merged})
    return len(entries)


async def recorded_outcomes(log: EventLog) -> dict[str, dict[str, Any]]:
    """settlement id -> its last recorded outcome (empty when ``reconcile`` never ran)."""
    state = await log.bookmark(RECONCILE_BOOKMARK) or {}
    found = state.get("settlements")
    return {str(k): v for k, v in found.items() if isinstance(v, dict)} if found else {}
