"""The operator read views and their recorders on both event-log backends: the same seeded log
(tests/ops_surface/views_seed.py, written through the real Outbox/EventLog/FlowHealth APIs)
in an SQLite file and in a fresh PostgreSQL database must read the same, value for value.

Covered: ``status`` (counts, regions, lag, parked items, freshness, health), the audit of one
record, the /metrics scrape over real HTTP (and its second scrape seeing only what is new), the
flow-health recorder and the shared state rule, the CLI readers (``status``, ``status
--check``, ``audit``) given the ``--db`` as a file or a URL, and the page alone (``serve``) with
a write action opened by ``serve_context``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from engine.cli import main
from engine.config.model import PollConfig
from engine.log.opening import open_event_log
from engine.ops.audit import collect_audit
from engine.ops.flow_health import FlowHealth, read_health
from engine.ops.flow_state import flow_states, read_successes
from engine.ops.metrics import Metrics, metrics_routes
from engine.ops.operator_views import parked_details, settlement_rows
from engine.ops.parked_actions import dismiss_command
from engine.ops.status import collect_status
from engine.web.app import build_app
from engine.web.server import serve_context
from tests.ops_surface import views_seed
from tests.ops_surface.test_metrics_scrape import bare_app, scrape, serve, total
from tests.ops_surface.views_seed import PARK_REASON, QAD_REASON, attempt, seeded, target

__all__ = ["target"]  # the parametrised fixture, imported for its tests

POLL = PollConfig(orders_every_s=300.0, settlements_every_s=3600.0)


async def test_status_summary_counts_parks_and_freshness(target: str) -> None:
    async with seeded(target) as s:
        status = await collect_status(s.log)
        label = s.log.label
    assert status["db"] == label
    assert label.startswith("postgresql://") == target.startswith("postgresql://")
    assert status["head"] == 4 and status["outbox"] is True
    assert status["needs_attention"] == 2  # the parked ORD-2 command + the ORD-UNMAPPED park
    orders, settlements = status["flows"][0], status["flows"][1]
    assert orders["flow"] == "amazon.orders" and orders["events"] == 3
    assert orders["by_region"] == {
        "NA": {"events": 2, "pending": 0, "sent": 2, "parked": 0},
        "EU": {"events": 1, "pending": 0, "sent": 0, "parked": 1},
    }
    assert orders["last_event_position"] == 3
    # ISO text on both (PostgreSQL returns a datetime: converted), aware, near now
    at = datetime.fromisoformat(orders["last_event_at"])
    assert at.utcoffset() == timedelta(0) and abs(at - views_seed.NOW) < timedelta(minutes=5)
    assert orders["projected_to"] == 2 and orders["lag_events"] == 1
    assert orders["polls"] == {"amazon.orders.NA": f"last_update={_z(views_seed.NOW, minutes=5)}"}
    commands = orders["commands"]
    assert (commands["pending"], commands["sent"], commands["parked"]) == (0, 2, 2)
    assert (commands["parked_commands"], commands["parked_records"]) == (1, 1)
    assert [(p["what"], p["record_key"], p["reason"]) for p in orders["parked"]] == [
        ("command", "ORD-2", QAD_REASON),
        ("record", "ORD-UNMAPPED", PARK_REASON),
    ]
    assert settlements["events"] == 1 and settlements["lag_events"] == 1
    assert settlements["by_region"] == {"NA": {"events": 1, "pending": 0, "sent": 0, "parked": 0}}
    assert [h["flow"] for h in status["health"]] == ["orders:NA", "settlements:EU"]
    assert status["disabled"] == ["settlements:EU"]
    assert settlements["health"][0]["role"] == "Finance and Accounting"

    fresh = status["freshness"]
    assert fresh["now"] == views_seed.NOW.isoformat(timespec="microseconds")
    want = {"count": 2, "p50_s": 300.0, "p95_s": 600.0, "max_s": 600.0}
    for window in ("hour", "day"):
        rows = {(r["flow"], r["region"]): r for r in fresh["windows"][window]}
        assert set(rows) == {("amazon.orders", "*"), ("amazon.orders", "NA")}
        for row in rows.values():
            assert {k: row[k] for k in want} == want


def _z(t: datetime, *, minutes: int) -> str:
    return (t - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_audit_of_one_record_and_the_page_lists(target: str) -> None:
    async with seeded(target) as s:
        story = await collect_audit(s.log, "ORD-1")
        other = await collect_audit(s.log, "ORD-2")
        unmapped = await collect_audit(s.log, "ORD-UNMAPPED")
        parked = await parked_details(s.log)
        settlements = await settlement_rows(s.log)
        ids = {k: c.command_id for k, c in s.commands.items()}
    assert [(e["position"], e["payload"]["status"]) for e in story["events"]] == [
        (1, "Unshipped"),
        (3, "Shipped"),
    ]
    first = story["events"][0]
    assert first["payload"]["ship_to"] == "[sealed]"
    assert first["payload"]["BuyerEmail"] == "[redacted]"
    assert first["source"] == "sp-api:NA:o" and datetime.fromisoformat(first["recorded_at"])
    assert [(c["command_id"], c["state"], c["from_positions"]) for c in story["commands"]] == [
        (ids["create1"], "ok", [1]),
        (ids["update1"], "ok", [3]),
    ]
    assert story["commands"][0]["document"] == "SO-1"
    assert [a["response"] for a in story["commands"][0]["attempts"]] == ["created"]
    assert story["parks"] == []
    assert [(c["state"], c["attempts"][0]["response"]) for c in other["commands"]] == [
        ("parked", QAD_REASON)
    ]
    assert [(p["projector"], p["position"], p["reason"], p["resolved"]) for p in unmapped["parks"]]
    assert unmapped["parks"][0]["reason"] == PARK_REASON and not unmapped["parks"][0]["resolved"]

    assert [(p["what"], p["record_key"], p["attempts"]) for p in parked] == [
        ("command", "ORD-2", 1),
        ("record", "ORD-UNMAPPED", 0),
    ]
    assert parked[0]["kind"] == "qad.sales_order.create" and parked[0]["reference"] == "ORD-2"
    assert [(r["settlement_id"], r["deposit"], r["posted"]) for r in settlements] == [
        ("S-1", "12.50", False)
    ]


async def test_metrics_scrape_reads_the_log_and_only_new_samples_again(target: str) -> None:
    async with seeded(target) as s:
        async with serve(bare_app(metrics_routes(s.log, Metrics(POLL), POLL))) as base:
            first, _ = await scrape(base)
            # ORD-2 re-queued and posted: one more freshness sample (20 min old), no new event.
            await s.box.requeue(s.commands["create2"].command_id)
            await attempt(s.box, s.commands["create2"], "ok", "created", "SO-2")
            second, _ = await scrape(base)
        head = await s.log.head()
    assert head == 4
    for samples in (first, second):
        assert total(samples, "mlc_events_appended_total") == 4
        assert total(samples, "mlc_events_appended_total", stream="amazon.orders") == 3
        assert total(samples, "mlc_events_appended_total", stream="amazon.settlements") == 1
        assert total(samples, "mlc_log_head_position") == 4
        assert total(samples, "mlc_build_info") == 1.0
        state = {(x["flow"], x["region"], x["state"]): v for x, v in samples["mlc_flow_state"]}
        assert state[("orders", "NA", "healthy")] == 1.0
        assert state[("settlements", "EU", "disabled-missing-role")] == 1.0
        assert state[("settlements", "EU", "healthy")] == 0.0
    assert total(first, "mlc_order_freshness_seconds_count", region="NA") == 2
    assert total(first, "mlc_order_freshness_seconds_sum") == 900.0
    assert total(first, "mlc_parked_items", flow="amazon.orders", what="command") == 1
    assert total(first, "mlc_parked_items", flow="amazon.orders", what="record") == 1
    assert total(first, "mlc_commands", flow="amazon.orders", state="sent") == 2
    assert total(first, "mlc_commands", flow="amazon.orders", state="parked") == 1
    # The second scrape counts the new sample once, and the earlier two not again.
    assert total(second, "mlc_order_freshness_seconds_count") == 3
    assert total(second, "mlc_order_freshness_seconds_count", region="EU") == 1
    assert total(second, "mlc_order_freshness_seconds_sum") == 900.0 + 1200.0
    assert total(second, "mlc_parked_items", flow="amazon.orders", what="command") == 0
    assert total(second, "mlc_commands", flow="amazon.orders", state="sent") == 3
    last = {
        (x["flow"], x["region"]): v for x, v in first["mlc_flow_last_success_timestamp_seconds"]
    }
    assert last == {("orders", "NA"): (views_seed.NOW - timedelta(minutes=1)).timestamp()}


async def test_flow_health_recording_and_the_state_rule(target: str) -> None:
    t0 = views_seed.NOW
    async with open_event_log(target) as log:
        health = FlowHealth(log, retry_s=600.0)
        await health.ok("orders:NA", now=t0 - timedelta(seconds=100))
        await health.ok("orders:NA", now=t0 - timedelta(seconds=30))  # each success is kept
        await health.ok("orders:EU", now=t0 - timedelta(seconds=400))
        await health.ok("fba:NA", now=t0 - timedelta(seconds=5))
        await health.failed("fba:NA", RuntimeError("disk full"), now=t0)
        await health.failed("qad.items", RuntimeError("boom"), now=t0 - timedelta(seconds=50))
        # the same failure again: ``since`` stays at the first one (the upsert's CASE)
        await health.failed("qad.items", RuntimeError("boom"), now=t0)
        rows = {h["flow"]: h for h in await read_health(log)}
        success = await read_successes(log)
        states = {r.flow: r for r in await flow_states(log, POLL, now=t0, expected=["mfn:EU"])}
        # A second recorder (another process after a restart) upserts the same rows.
        again = FlowHealth(log, retry_s=600.0)
        await again.ok("fba:NA", now=t0 + timedelta(seconds=1))
        healed = {h["flow"]: h for h in await read_health(log)}
    assert list(rows) == ["fba:NA", "orders:EU", "orders:NA", "qad.items"]  # sorted by name
    assert rows["fba:NA"]["state"] == "failed" and "disk full" in rows["fba:NA"]["reason"]
    assert rows["qad.items"]["since"] == (t0 - timedelta(seconds=50)).isoformat()
    assert rows["qad.items"]["last_try"] == t0.isoformat()
    assert rows["orders:NA"]["group"] == "amazon.orders"
    assert success["orders:NA"] == t0 - timedelta(seconds=30)
    assert success["orders:EU"] == t0 - timedelta(seconds=400)
    assert {f: r.state for f, r in states.items()} == {
        "fba:NA": "failing",
        "mfn:EU": "pending",
        "orders:EU": "late",
        "orders:NA": "healthy",
        "qad.items": "failing",
    }
    assert states["orders:NA"].age_s == 30.0
    assert healed["fba:NA"]["state"] == "ok" and healed["fba:NA"]["reason"] == ""


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_cli_status_check_and_audit_take_a_file_or_a_url(target: str, capsys) -> None:
    async with seeded(target):
        pass
    assert await cli("status", "--db", target, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["head"] == 4 and status["needs_attention"] == 2
    assert status["flows"][0]["commands"]["sent"] == 2
    assert "@" not in status["db"]  # a label, never credentials

    assert await cli("status", "--db", target) == 0
    out = capsys.readouterr().out
    assert "lag            1 event(s) not projected" in out
    assert "pending 0  sent 2  skipped 0  parked 2 (1 command(s), 1 record(s))" in out
    assert QAD_REASON in out and "jane@example.com" not in out

    assert await cli("status", "--db", target, "--check") == 1
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(": ")[0] for ln in lines] == [
        "DISABLED settlements:EU",
        "PARKED amazon.orders",
    ]
    assert "'Finance and Accounting'" in lines[0] and "2 item(s)" in lines[1]

    assert await cli("audit", "--db", target, "--json", "ORD-1") == 0
    story = json.loads(capsys.readouterr().out)
    assert [c["state"] for c in story["commands"]] == ["ok", "ok"]
    assert story["events"][0]["payload"]["BuyerEmail"] == "[redacted]"
    assert await cli("audit", "--db", target, "NOPE") == 1
    capsys.readouterr()


async def test_the_page_alone_reads_and_writes_either_backend(target: str) -> None:
    async with seeded(target) as s:
        command_id = s.commands["create2"].command_id
    async with serve_context(target, None, None) as ctx:
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(ctx)))
        await client.start_server()
        try:
            resp = await client.get("/parked")
            page = await resp.text()
            assert resp.status == 200 and "ORD-2" in page and "ORD-UNMAPPED" in page
            resp = await client.get("/")
            assert resp.status == 200 and "amazon.orders" in await resp.text()
        finally:
            await client.close()
        assert ctx.actions is not None
        async with ctx.actions() as (writer, dispatch):
            assert dispatch is None  # no --config: the running engine posts later
            assert await dismiss_command(writer, command_id, who="op", note="posted by hand")
            assert not await dismiss_command(writer, command_id, who="op", note="again")
        left = await parked_details(ctx.log)
    assert [(p["what"], p["record_key"]) for p in left] == [("record", "ORD-UNMAPPED")]
