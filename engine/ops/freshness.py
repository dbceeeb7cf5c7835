"""Order freshness as ``status`` (and the status page / metrics) show it: p50/p95 per flow and
region of how old an order version was when QAD got it, over the last hour and the last day.

Samples come from ``order_freshness`` (engine/dispatch/freshness.py: one row per order version
posted, on the engine's Amazon clock). The windows end at ``now``: by default the newest post in
the table, so a log of a time-scaled simulator run, or of an engine stopped yesterday, reads
as "the last hour of posting" rather than as empty (the result names that moment in ``now``).
Read-only; a log without the table gives empty windows. The times are ISO text on both backends,
compared as text (the recorder writes one fixed UTC form), so no SQL date function is needed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from engine.commands.records import iso
from engine.log import EventLog

__all__ = ["WINDOWS", "freshness_summary", "percentile"]

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def freshness_summary(
    log: EventLog, now: datetime | None = None, *, since: datetime | None = None
) -> dict[str, Any]:
    """``{"now": iso|None, "windows": {"hour": [row...], "day": [row...]}}``; each row is
    ``{"flow", "region", "count", "p50_s", "p95_s", "max_s"}``, per region and, with region
    ``"*"``, per flow over all regions. ``since``: leave out versions last updated before it
    (a benchmark measuring only what arrived while it ran, not the initial catch-up)."""
    empty: dict[str, Any] = {"now": None, "windows": {name: [] for name in WINDOWS}}
    if "order_freshness" not in await log.tables():
        return empty
    if now is None:
        newest = await log.query("SELECT max(posted_at) FROM order_freshness")
        if not newest or newest[0][0] is None:
            return empty
        now = datetime.fromisoformat(str(newest[0][0]))
    out: dict[str, Any] = {"now": iso(now), "windows": {}}
    for name, span in WINDOWS.items():
        sql = (
            "SELECT flow, region, seconds FROM order_freshness WHERE posted_at > ? "
            "AND posted_at <= ?"
        )
        params: list[Any] = [iso(now - span), iso(now)]
        if since is not None:
            sql += " AND last_update >= ?"
            params.append(iso(since))
        groups: dict[tuple[str, str], list[float]] = defaultdict(list)
        for flow, region, seconds in await log.query(sql, params):
            groups[(str(flow), str(region))].append(float(seconds))
            groups[(str(flow), "*")].append(float(seconds))
        rows = []
        for (flow, region), values in sorted(groups.items()):
            values.sort()
            rows.append(
                {
                    "flow": flow,
                    "region": region,
                    "count": len(values),
                    "p50_s": percentile(values, 50),
                    "p95_s": percentile(values, 95),
                    "max_s": values[-1],
                }
            )
        out["windows"][name] = rows
    return out
