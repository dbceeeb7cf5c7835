"""The client and pollers over real HTTP against the SP-API simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.pollers.orders import OrdersPollConfig, OrdersPoller

from .conftest import make_client

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]


async def test_token_cached_and_refreshed_before_expiry(sim, session):
    c = make_client(sim, session)
    t1 = await c.auth.token()
    for _ in range(5):
        assert await c.auth.token() == t1
    assert c.auth.refreshes == 1
    # concurrent callers share one refresh
    c.auth.invalidate()
    toks = await asyncio.gather(*(c.auth.token() for _ in range(10)))
    assert len(set(toks)) == 1 and c.auth.refreshes == 2
    sim.advance(timedelta(minutes=59, seconds=30))  # inside the 60 s skew: refresh early
    assert await c.auth.token() != toks[0]
    assert c.auth.refreshes == 3


async def test_orders_poller_v2026_appends_and_dedupes(sim, session, event_log):
    c = make_client(sim, session)
    mps = sim.sellers[0].regions["NA"].marketplace_ids
    p = OrdersPoller(
        c, event_log, OrdersPollConfig(marketplace_ids=mps, initial_lookback=timedelta(days=2))
    )
    r1 = await p.poll_once()
    assert r1.appended > 0
    r2 = await p.poll_once()
    assert r2.appended == 0


async def _poll(sim, session, log, api, sealer=None, region="NA"):
    c = make_client(sim, session, region)
    mps = sim.sellers[0].regions[region].marketplace_ids
    cfg = OrdersPollConfig(marketplace_ids=mps, api=api, initial_lookback=timedelta(days=2))
    p = OrdersPoller(c, log, cfg, sealer)
    return c, p, await p.poll_once()


class FakeSealer:
    def __init__(self):
        self.keys = []

    async def seal(self, record_key, value):
        self.keys.append(record_key)
        return {"pii": 1, "rk": record_key, "ct": "x" * len(str(value))}


async def test_v0_and_v2026_give_identical_payloads_and_truth_totals(sim, session, tmp_path):
    from engine.log.sqlite import SQLiteEventLog

    payloads = {}
    for api in ("2026-01-01", "v0"):
        async with SQLiteEventLog.open(tmp_path / f"{api}.db") as log:
            _, _, res = await _poll(sim, session, log, api, FakeSealer())
            assert res.appended > 0
            payloads[api] = {e.key: e.payload async for e in log.read(streams=["amazon.orders"])}
    assert payloads["v0"].keys() == payloads["2026-01-01"].keys()
    for oid, p in payloads["v0"].items():
        q = payloads["2026-01-01"][oid]
        for k in ("status", "fulfillment", "order_total", "currency", "purchase_date", "pii"):
            assert p[k] == q[k], (oid, k)
        for a, b in zip(p["lines"], q["lines"], strict=True):
            for k in (
                "sku",
                "quantity",
                "unit_price",
                "item_price",
                "item_tax",
                "promotion_discount",
            ):
                assert a[k] == b[k], (oid, k)
        t = sim.truth.order(oid)
        if p["order_total"] is not None:
            tot = t.total() if callable(t.total) else t.total
            assert Decimal(p["order_total"]) == tot


async def test_rdt_only_for_mfn_and_pii_sealed(sim, session, event_log, tmp_path):
    sealer = FakeSealer()
    c, _, _ = await _poll(sim, session, event_log, "v0", sealer)
    evs = [e async for e in event_log.read(streams=["amazon.orders"])]
    mfn = [e for e in evs if e.payload["fulfillment"] == "MFN" and e.payload["pii"] == "sealed"]
    assert mfn, "no MFN order with an address in the window"
    assert all(e.payload["fulfillment"] == "MFN" for e in evs if e.payload["pii"] == "sealed")
    assert all(e.payload["ship_to"] is None for e in evs if e.payload["fulfillment"] == "AFN")
    assert set(sealer.keys) == {e.key for e in mfn}
    assert c.stats.get("rdt", 0) == 1  # one cached RDT for the generic address path


async def test_pii_not_readable_in_log_file(sim, session, tmp_path):
    from engine.log.sqlite import SQLiteEventLog
    from engine.security.pii import PiiSealer

    db = tmp_path / "pii.db"
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, b"k" * 32)
        await sealer.ensure_schema()
        await _poll(sim, session, log, "2026-01-01", sealer)
        sealed = [
            e async for e in log.read(streams=["amazon.orders"]) if e.payload["pii"] == "sealed"
        ]
        assert sealed
        plain = await sealer.open(sealed[0].payload["ship_to"])
        assert plain["address_line1"].endswith("Sample Street")
    raw = db.read_bytes()
    assert b"Sample Street" not in raw and b"Buyer " not in raw


async def test_2_minute_rule_and_second_poll_appends_nothing(sim, session, event_log):
    _c, p, r1 = await _poll(sim, session, event_log, "2026-01-01", FakeSealer())
    wm = datetime.fromisoformat(r1.watermark.replace("Z", "+00:00"))
    assert wm <= sim.clock.now() - timedelta(minutes=2)
    r2 = await p.poll_once()
    assert r2.appended == 0
    sim.advance(timedelta(hours=6))  # orders change status, new ones arrive
    r3 = await p.poll_once()
    assert r3.appended > 0


async def test_429_storm_survived_nothing_lost(sim, session, event_log):
    sim.faults.add(kind="throttle", operation="searchOrders", count=3)
    c, _p, r = await _poll(sim, session, event_log, "2026-01-01", FakeSealer())
    assert c.stats["throttled"] == 3
    got = {e.key async for e in event_log.read(streams=["amazon.orders"])}
    lo = sim.clock.now() - timedelta(days=2)
    hi = datetime.fromisoformat(r.watermark.replace("Z", "+00:00"))
    want = set()
    for t in sim.truth.orders():
        lu = t.last_update(sim.world.now()) if callable(t.last_update) else t.last_update
        lu = datetime.fromtimestamp(lu, UTC) if isinstance(lu, float) else lu
        if t.marketplace.region == "NA" and lo <= lu < hi:
            want.add(t.order_id)
    assert want <= got


async def test_403_expired_mid_paging_recovers_once(sim, session, event_log):
    sim.faults.add(kind="expire_token", operation="searchOrders", count=1)
    c, _p, r = await _poll(sim, session, event_log, "2026-01-01", FakeSealer())
    assert r.appended > 0 and c.auth.refreshes == 2


async def test_multi_region_seller_separate_clients(sim, session, event_log):
    total = 0
    for region in ("NA", "EU", "FE"):
        c, _p, r = await _poll(sim, session, event_log, "2026-01-01", FakeSealer(), region)
        total += r.appended
        assert all(k[1] == region for k in c.limits.buckets())
    regions = {e.payload["region"] async for e in event_log.read(streams=["amazon.orders"])}
    assert regions == {"NA", "EU", "FE"}
