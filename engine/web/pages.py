"""The status page's GET handlers: overview, one flow, parked items, a record's story,
settlements, inventory drift, plus ``/healthz`` (public; ``/metrics`` is engine/ops/metrics)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from aiohttp import web

from engine.ops.audit import collect_audit
from engine.ops.flow_state import RULE, FlowStateRow, flow_states
from engine.ops.operator_views import inventory_drift, parked_details, settlement_rows
from engine.ops.status import FLOWS, collect_status
from engine.web.context import CTX, render

__all__ = ["ROUTES"]

routes = web.RouteTableDef()
GROUPS = {f.name for f in FLOWS}


def _freshness(status: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(flow, region) -> the last day's p50/p95 (engine/ops/freshness; empty when absent)."""
    windows = (status.get("freshness") or {}).get("windows") or {}
    return {(r["flow"], r["region"]): r for r in windows.get("day") or ()}


def _watermark(flow: dict[str, Any], row: FlowStateRow) -> str:
    """The poller bookmark(s) of this region (names end in ``.<region>``, e.g.
    amazon.orders.NA); qad.items has one without a region."""
    polls: dict[str, str] = flow.get("polls") or {}
    kind = row.flow.split(":")[0]
    picked = [
        text
        for name, text in polls.items()
        if (row.region and name.endswith(f".{row.region}") and kind in ("orders", "settlements"))
        or (row.region and name.endswith(f".{kind}.{row.region}"))
        or (not row.region and name == row.flow)
    ]
    return "; ".join(picked) or "-"


async def _overview_data(request: web.Request) -> dict[str, Any]:
    ctx = request.app[CTX]
    status = await collect_status(ctx.log)
    states = await flow_states(ctx.log, ctx.poll, expected=ctx.expected_flows)
    fresh = _freshness(status)
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    flows = {f["flow"]: f for f in status["flows"]}
    for row in states:
        f = flows.get(row.group, {})
        by_group[row.group].append(
            {
                "row": row,
                "watermark": _watermark(f, row) if f else "-",
                "freshness": fresh.get((row.group, row.region)),
                "counts": (f.get("by_region") or {}).get(row.region) if f else None,
            }
        )
    return {"status": status, "by_group": by_group, "rule": RULE, "states": states}


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    data = await _overview_data(request)
    return await render(request, "overview.html", **data)


@routes.get("/flow/{name}")
async def flow_page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in GROUPS:
        raise web.HTTPNotFound(text="no such flow\n")
    data = await _overview_data(request)
    flow = next(f for f in data["status"]["flows"] if f["flow"] == name)
    return await render(
        request, "flow.html", flow=flow, regions=data["by_group"].get(name, []), rule=RULE
    )


@routes.get("/parked")
async def parked_page(request: web.Request) -> web.Response:
    items = await parked_details(request.app[CTX].log)
    reasons: dict[str, int] = defaultdict(int)
    for item in items:
        if item["what"] == "command":
            reasons[item["reason"]] += 1
    ctx = request.app[CTX]
    return await render(
        request,
        "parked.html",
        items=items,
        reasons=sorted(reasons.items(), key=lambda kv: -kv[1]),
        dispatch_now=ctx.dispatch_now,
        dispatch_note=ctx.dispatch_note,
    )


@routes.get("/record")
async def record_page(request: web.Request) -> web.Response:
    key = request.query.get("key", "")[:300]
    if not key:
        raise web.HTTPBadRequest(text="?key=<order id, settlement id or SKU>\n")
    story = await collect_audit(request.app[CTX].log, key)
    for ev in story["events"]:
        ev["payload_text"] = orjson.dumps(ev["payload"], option=orjson.OPT_INDENT_2).decode()
    return await render(request, "record.html", story=story, key=key)


@routes.get("/settlements")
async def settlements_page(request: web.Request) -> web.Response:
    rows = await settlement_rows(request.app[CTX].log)
    return await render(request, "settlements.html", rows=rows)


@routes.get("/inventory")
async def inventory_page(request: web.Request) -> web.Response:
    rows = await inventory_drift(request.app[CTX].log)
    return await render(request, "inventory.html", rows=rows)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness for a container healthcheck: the process serves and its event log answers."""
    try:
        head = await request.app[CTX].log.head()
    except Exception:  # any store failure: unhealthy, without details (public endpoint)
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok", "head": head})


ROUTES = list(routes)
