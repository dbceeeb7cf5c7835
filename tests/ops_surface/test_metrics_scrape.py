"""/metrics after a real sync: scraped over HTTP from the status page's app (engine/web) and
parsed by prometheus_client's own parser.

A small business (3 days, a few orders a day) is synced against both simulators with part of
the SKU map missing (so some orders park) and two 429s injected on searchOrders. Every number the
scrape shows is checked against what really happened: the clients' own request counters, the
event log's head, the outbox's parked list, the QAD simulator's documents, the freshness table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from engine.commands.outbox import Outbox
from engine.log import SQLiteEventLog
from engine.ops.metrics import CONTENT_TYPE, METRIC_NAMES, Metrics, metrics_routes
from engine.sim.business import sku_to_item
from engine.web.app import build_app
from engine.web.context import WebContext


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """A real HTTP server for ``app`` on a free loopback port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def bare_app(routes: object) -> web.Application:
    """Just the metrics route (as ``serve --db`` mounts it, without the page)."""
    app = web.Application()
    app.add_routes(routes)  # type: ignore[arg-type]
    return app


Samples = dict[str, list[tuple[dict[str, str], float]]]


async def scrape(base: str) -> tuple[Samples, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        ctype = resp.headers["Content-Type"]
        text = await resp.text()
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name].append((dict(s.labels), s.value))
    return samples, ctype


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for lab, v in samples[name] if all(lab.get(k) == x for k, x in labels.items()))


async def test_metrics_after_a_small_sync_count_what_happened(make_world) -> None:
    full = sku_to_item()
    partial = {k: v for k, v in full.items() if k not in sorted(full)[::3]}
    async with make_world(history_days=3, orders_per_day=5) as w:
        cfg = w.config(sku_map=partial)
        w.amazon.faults.add("throttle", operation="searchOrders", count=2)
        async with w.engine(cfg) as eng:
            await eng.sync_once()
            # The status page's own app (engine/web), as `run` serves it.
            page = build_app(WebContext(log=eng.log, poll=cfg.poll, metrics=eng.metrics))
            async with serve(page) as base:
                first, ctype = await scrape(base)
                again, _ = await scrape(base)
            head = await eng.log.head()
            parked = await Outbox(eng.log).parked()
            requests = sum(c.stats["requests"] for c in eng.amazon.values())
            throttled = sum(c.stats["throttled"] for c in eng.amazon.values())
            counts = (await Outbox(eng.log).counts()).by_kind
            fresh = await eng.log.query("SELECT count(*) FROM order_freshness")
        so_headers = w.qad.sales_orders()
    assert ctype == CONTENT_TYPE

    # SP-API: every HTTP try, by outcome; the two injected 429s counted as throttled.
    assert total(first, "mlc_spapi_requests_total") == requests > 0
    assert total(first, "mlc_spapi_throttled_total", operation="searchOrders") == throttled == 2
    assert total(first, "mlc_spapi_requests_total", outcome="throttled") == 2
    assert total(first, "mlc_spapi_request_duration_seconds_count") == requests
    assert total(first, "mlc_spapi_requests_total", operation="searchOrders", outcome="ok") >= 1

    # QAD and dispatch: what was posted is what the QAD simulator holds.
    created = counts["qad.sales_order.create"].get("ok", 0)
    assert created > 0
    assert (
        total(first, "mlc_dispatch_attempts_total", kind="qad.sales_order.create", outcome="ok")
        == created
    )
    assert (
        total(first, "mlc_qad_requests_total", method="POST", operation="sales_order_headers")
        >= created
    )
    assert total(first, "mlc_qad_request_duration_seconds_count") == total(
        first, "mlc_qad_requests_total"
    )
    assert len(so_headers) == created

    # From the log: events, parked items, freshness samples, the flows' last success.
    assert total(first, "mlc_events_appended_total") == head > 0
    assert total(again, "mlc_events_appended_total") == head  # a second scrape adds nothing
    records = [p for p in parked if p.kind == "record" and p.projector == "orders"]
    assert records, "no order used an unmapped SKU"
    assert total(first, "mlc_parked_items", flow="amazon.orders", what="record") == len(records)
    assert total(first, "mlc_parked_items") == len(parked)
    assert total(first, "mlc_order_freshness_seconds_count") == fresh[0][0] > 0
    assert total(again, "mlc_order_freshness_seconds_count") == fresh[0][0]
    assert total(first, "mlc_commands", flow="amazon.orders", state="sent") >= created
    assert total(first, "mlc_log_head_position") == head

    now = datetime.now(UTC).timestamp()
    last = {
        (lab["flow"], lab["region"]): v
        for lab, v in first["mlc_flow_last_success_timestamp_seconds"]
    }
    assert ("orders", "NA") in last and now - 120 < last[("orders", "NA")] <= now + 1
    state = {(lab["flow"], lab["region"], lab["state"]): v for lab, v in first["mlc_flow_state"]}
    assert state[("orders", "NA", "healthy")] == 1.0
    assert state[("orders", "NA", "failing")] == 0.0
    assert total(first, "mlc_build_info") == 1.0

    # Every documented name is exposed; no label value is an order id or a SKU.
    exposed = {name for name in first} | {n.rsplit("_", 1)[0] for n in first}
    for name in METRIC_NAMES:
        assert any(s == name or s.startswith(name + "_") for s in exposed), name
    values = {v for series in first.values() for lab, _ in series for v in lab.values()}
    assert not any(p.record_key in values for p in parked)
    assert not set(full) & values


async def test_each_engine_has_its_own_registry_and_serve_reads_the_log(make_world) -> None:
    """Two Metrics in one process never collide; a fresh one (``serve --db``) reads the gauges
    and event counts from the log file alone, opened read-only."""
    async with make_world(history_days=2, orders_per_day=3) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            await eng.sync_once()
            head = await eng.log.head()
        a, b = Metrics(cfg.poll), Metrics(cfg.poll)
        assert a.registry is not b.registry
        async with (
            SQLiteEventLog.open(cfg.engine.db, readonly=True) as log,
            serve(bare_app(metrics_routes(log, poll=cfg.poll))) as base,
        ):
            samples, _ = await scrape(base)
    assert total(samples, "mlc_events_appended_total") == head > 0
    assert total(samples, "mlc_spapi_requests_total") == 0  # no engine in this process
    assert total(samples, "mlc_flow_state", flow="orders", region="NA", state="healthy") == 1.0
