"""The status page over real HTTP on a synced world: every page renders the log's truth, and
retry / retry-all / dismiss go through the outbox with who and when in the audit trail."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from html import unescape
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from engine.log import SQLiteEventLog
from engine.ops.audit import collect_audit
from engine.ops.flow_state import RULE
from tests.web.conftest import CLOSED, csrf_of, page, parked_world

REASON = re.compile(r'name="reason" value="([^"]*)"')


async def _outcomes(db: str, command_id: str) -> list[tuple[str, str, str]]:
    async with SQLiteEventLog.open(Path(db), readonly=True) as log:
        rows = await log.query(
            "SELECT outcome, request, response FROM attempts WHERE command_id = ? ORDER BY id",
            (command_id,),
        )
    return [(r[0], r[1], r[2]) for r in rows]


async def test_pages_show_flows_parked_story_settlements_and_inventory(make_world) -> None:
    started = time.monotonic()
    async with parked_world(make_world) as (_w, cfg), page(cfg) as client:
        r = await client.get("/")
        html = await r.text()
        assert r.status == 200, html
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert "<script" not in html  # no script at all, no external asset
        assert "http://" not in html.replace(str(client.make_url("/")), "")
        for name in ("amazon.orders", "amazon.settlements", "amazon.inventory"):
            assert f'id="flow-{name}"' in html
        assert 'data-flow="orders:NA"' in html and "Healthy" in html  # just polled
        assert "Late: no successful poll within 1x cadence" in html  # the rule, stated
        assert "within 2x cadence" in html and RULE.startswith("Healthy")
        assert "need attention" in html

        r = await client.get("/flow/amazon.orders")
        flow = await r.text()
        assert r.status == 200 and "Events and commands" in flow and CLOSED in flow
        assert (await client.get("/flow/nope")).status == 404

        r = await client.get("/parked")
        parked = await r.text()
        assert r.status == 200 and CLOSED in parked and "Retry all" in parked
        async with SQLiteEventLog.open(Path(cfg.engine.db), readonly=True) as log:
            order = next(
                k for (k,) in await log.query("SELECT key FROM events WHERE type = 'OrderFetched'")
            )
            audit = await collect_audit(log, order)
        r = await client.get("/record", params={"key": order})
        story = await r.text()
        assert r.status == 200 and order in story and "OrderFetched" in story
        for c in audit["commands"]:  # the same content as `audit`
            assert c["command_id"] in story and c["state"] in story

        r = await client.get("/settlements")
        assert r.status == 200
        settlements = await r.text()
        assert "not checked" in settlements or "No settlement" in settlements
        r = await client.get("/inventory")
        assert r.status == 200 and "Inventory drift" in await r.text()

        r = await client.get("/healthz")
        assert r.status == 200 and (await r.json())["status"] == "ok"
        r = await client.get("/metrics")
        assert r.status == 200
        names = {m.name for m in text_string_to_metric_families(await r.text())}
        assert any(n.startswith("mlc_") for n in names), names
    assert time.monotonic() - started < 60


async def test_retry_one_then_all_of_a_reason_then_dismiss(make_world) -> None:
    async with parked_world(make_world) as (w, cfg), page(cfg) as client:
        html = await (await client.get("/parked")).text()
        token = csrf_of(html)
        async with SQLiteEventLog.open(Path(cfg.engine.db), readonly=True) as log:
            rows = await log.query(
                "SELECT c.command_id, c.kind FROM commands c JOIN attempts a ON a.id = "
                "(SELECT max(id) FROM attempts WHERE command_id = c.command_id) "
                "WHERE a.outcome = 'parked' ORDER BY c.seq"
            )
        parked = [r[0] for r in rows]
        assert len(parked) >= 3
        first = next(cid for cid, kind in rows if kind == "qad.sales_order.create")

        w.qad.faults.clear()  # the accountant reopened the period
        r = await client.post(
            "/actions/retry",
            data={"csrf": token, "command_id": first, "operator": "Alice\x07 <b>"},
            allow_redirects=False,
        )
        assert r.status == 303 and r.headers["Location"] == "/parked"
        outcomes = await _outcomes(cfg.engine.db, first)
        assert [o[0] for o in outcomes] == ["parked", "requeued", "ok"], outcomes
        assert outcomes[1][1] == "retry by Alice <b> from 127.0.0.1 (status page)"
        assert len(w.qad.sales_orders()) == 1
        html = await (await client.get("/parked")).text()
        assert "re-queued 1 command(s); dispatched: ok 1" in html  # the flash message

        # Dismiss one with a note: finished without posting, kept in the trail.
        victim = parked[-1] if parked[-1] != first else parked[-2]
        r = await client.post(
            "/actions/dismiss",
            data={"csrf": token, "what": "command", "command_id": victim, "note": "posted by hand"},
            allow_redirects=False,
        )
        assert r.status == 303
        last = (await _outcomes(cfg.engine.db, victim))[-1]
        assert last[0] == "skipped" and last[2] == "dismissed: posted by hand", last
        assert "dismissed by operator from 127.0.0.1" in last[1]

        # Retry all of a reason (each reason the page offers): every other command posts once.
        html = await (await client.get("/parked")).text()
        reasons = sorted(set(REASON.findall(html)))
        assert reasons and all(CLOSED in unescape(x) for x in reasons), reasons
        for reason in reasons:
            r = await client.post(
                "/actions/retry-reason",
                data={"csrf": token, "reason": unescape(reason)},
                allow_redirects=False,
            )
            assert r.status == 303
        for cid in parked:
            states = [o[0] for o in await _outcomes(cfg.engine.db, cid)]
            if cid == victim:
                assert states == ["parked", "skipped"], states
            else:
                assert states[-1] in ("ok", "exists") and states.count("ok") <= 1, (cid, states)
        html = await (await client.get("/parked")).text()
        assert "Everything is synced" in html
        # A second click re-queues nothing (only what is parked right now is touched).
        r = await client.post(
            "/actions/retry-reason",
            data={"csrf": token, "reason": unescape(reasons[0])},
            allow_redirects=True,
        )
        assert "nothing re-queued" in await r.text()


async def test_dismiss_a_record_park_keeps_the_note(make_world) -> None:
    async with parked_world(make_world) as (_w, cfg):
        async with SQLiteEventLog.open(Path(cfg.engine.db)) as log:
            from engine.commands.outbox import Outbox
            from engine.commands.vocabulary import Park

            outbox = Outbox(log)
            async with log.transaction() as tx:
                await outbox.add_park(tx, Park("SKU-GONE", 1, "unmapped SKU SKU-GONE"), "orders")
        async with page(cfg) as client:
            token = csrf_of(await (await client.get("/parked")).text())
            form = {"csrf": token, "what": "record", "projector": "orders"}
            r = await client.post(
                "/actions/dismiss", data={**form, "record_key": "SKU-GONE", "note": ""}
            )
            assert "needs a note" in await r.text()
            r = await client.post(
                "/actions/dismiss",
                data={**form, "record_key": "SKU-GONE", "note": "discontinued"},
            )
            assert "dismissed (kept in the audit trail)" in await r.text()
            story = await (await client.get("/record", params={"key": "SKU-GONE"})).text()
            assert "resolved" in story
        async with SQLiteEventLog.open(Path(cfg.engine.db), readonly=True) as log:
            rows = await log.query(
                "SELECT reason FROM parked_records WHERE record_key = 'SKU-GONE' ORDER BY id"
            )
        assert [r[0] for r in rows] == [
            "unmapped SKU SKU-GONE",
            "dismissed by operator from 127.0.0.1: discontinued",
        ]


DRIFT_ROW = re.compile(
    r'<a href="/record\?key=([^"]+)">[^<]*</a><br><span class="muted">(\w+)</span></td>\s*'
    r"<td>([^ <]+) / ([^ <]+)</td><td class=\"num\">(-?\d+)</td>\s*"
    r"<td><strong>drift ([+-]\d+) \(QAD (-?[\d.]+), Amazon (-?\d+)\)</strong>"
)


async def test_inventory_page_lists_each_drift_as_qad_and_amazon_hold_it(make_world) -> None:
    """Report mode (the default): a synced world whose QAD stock differs from Amazon's shows a
    drift row per item and site, with QAD's on-hand and Amazon's quantity as the simulators
    hold them, drift first."""
    async with make_world(history_days=3, orders_per_day=2) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        async with page(cfg) as client:
            r = await client.get("/inventory")
            html = await r.text()
        assert r.status == 200, html
        rows = DRIFT_ROW.findall(html)
        assert rows, html[:3000]
        for sku, mp, item, site, expected, diff, qad, amazon in rows:
            assert Decimal(qad) == w.qad.on_hand(item, site), (item, site)
            fba = w.amazon.truth.fba_inventory(None, mp)
            mfn = w.amazon.truth.mfn_inventory(None, mp)
            assert int(amazon) in (fba.get(sku), mfn.get(sku)), (sku, mp, amazon)
            assert expected == amazon and int(diff) == int(amazon) - Decimal(qad)
        # drift rows come before the rest
        first_other = html.find("<td>in line") if "<td>in line" in html else len(html)
        assert html.rfind("<strong>drift") < first_other


REGION_ROW = re.compile(
    r'data-flow="orders:(\w+)">.*?<span class="n-events">(\d+)</span> events<br>\s*'
    r'<span class="n-pending">(\d+)</span> pending, <span class="n-sent">(\d+)</span> sent,\s*'
    r'<span class="n-parked">(\d+)</span> parked',
    re.S,
)


async def test_overview_counts_events_and_commands_per_region(make_world) -> None:
    """Each orders region row counts that region's events and the sales order commands that
    came from them, as the log itself says (events by their source's region; a command by the
    region of its first event; sent = newest attempt ok/exists)."""
    async with make_world(history_days=3, orders_per_day=3) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        async with SQLiteEventLog.open(Path(cfg.engine.db), readonly=True) as log:
            events = await log.query(
                "SELECT position, source FROM events WHERE stream = 'amazon.orders'"
            )
            commands = await log.query(
                "SELECT c.positions, (SELECT outcome FROM attempts a WHERE a.command_id = "
                "c.command_id ORDER BY a.id DESC LIMIT 1) FROM commands c "
                "WHERE c.kind LIKE 'qad.sales_order.%'"
            )
        region_of = {int(p): str(s).split(":")[1] for p, s in events}
        want_events: dict[str, int] = {}
        for region in region_of.values():
            want_events[region] = want_events.get(region, 0) + 1
        want_sent: dict[str, int] = {}
        for positions, outcome in commands:
            first = orjson.loads(positions)[0]
            if outcome in ("ok", "exists"):
                want_sent[region_of[first]] = want_sent.get(region_of[first], 0) + 1
        async with page(cfg) as client:
            html = await (await client.get("/")).text()
        shown = {m[0]: (int(m[1]), int(m[3])) for m in REGION_ROW.findall(html)}
        assert len(shown) >= 2, html[:2000]  # the world sells in more than one region
        for region, (n_events, n_sent) in shown.items():
            assert n_events == want_events.get(region, 0), region
            assert n_sent == want_sent.get(region, 0), region
        assert sum(n for n, _ in shown.values()) == len(events)
        # A region whose orders were posted shows their freshness (p50 / p95 with the count).
        for region, (_n, n_sent) in shown.items():
            row = html.split(f'data-flow="orders:{region}">', 1)[1].split("</tr>", 1)[0]
            cell = row.split('<td class="region-counts">', 1)[0].rsplit("<td>", 1)[1]
            assert ("n/a" in cell) == (n_sent == 0), (region, cell)
