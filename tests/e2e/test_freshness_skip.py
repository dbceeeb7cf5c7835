"""Re-reads inside the overlap make no follow-up calls for an unchanged order version (issue 17).

Counted at the Amazon simulator (every call its usage plans see, by operation): a second sync
over the same overlap makes one getOrderItems (v0) per listed order whose version changed or is
not settled yet (Pending: prices still to come), none for the others, and an address call only
for a new ship-to; every listed order's newest version is in the log afterwards, and a changed
order is posted to QAD. A crash between the fetch and the append loses no version.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.adapters.amazon.orders import SHIP_TO_STATUSES
from engine.pollers.order_versions import listed_version, order_id_of
from engine.pollers.orders import OrdersPoller

ADDRESS_OPS = {"v0": "getOrderAddress", "2026-01-01": "getOrder2026"}
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


def _count_calls(amazon: Any) -> Counter[str]:
    calls: Counter[str] = Counter()
    plans = amazon.world.plans
    allow = plans.allow

    def counting(key: str, operation: str, overrides: dict[str, tuple[float, int]]) -> bool:
        calls[operation] += 1
        return bool(allow(key, operation, overrides))

    plans.allow = counting
    return calls


async def _sync_orders(eng: Any) -> None:
    """Poll orders only (the report flows would wait out the reports' real-time delay), project
    and post to QAD."""
    await eng.poll(["orders"])
    await eng.runner.run_once()
    await eng.dispatcher.run_until_idle(60.0)


def _orders_pollers(eng: Any) -> list[OrdersPoller]:
    apis = [getattr(p, "inner", p) for n, p in eng.pollers.items() if n.startswith("orders:")]
    return [p for p in apis if isinstance(p, OrdersPoller)]


def _spy_listings(poller: OrdersPoller, seen: list[tuple[str, tuple[str, str] | None]]) -> None:
    page = poller._page

    async def spy(orders: Any, src: str, res: Any) -> Any:
        api, region = poller.cfg.api, poller.client.region
        seen.extend((order_id_of(o, api), listed_version(o, api, region)) for o in orders)
        return await page(orders, src, res)

    poller._page = spy  # type: ignore[method-assign]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _settled(p: dict[str, Any]) -> bool:
    """The spec, independent of the poller's code: nothing a follow-up could still add."""
    if p["status"] in ("Pending", "PendingAvailability") or not p["lines"]:
        return False
    if p["status"] != "Canceled" and any(ln["item_price"] is None for ln in p["lines"]):
        return False
    open_mfn = p["fulfillment"] == "MFN" and p["status"] in SHIP_TO_STATUSES
    return not open_mfn or p["pii"] == "sealed"


@pytest.mark.parametrize("api", ["v0", "2026-01-01"])
async def test_second_sync_skips_follow_ups_of_unchanged_versions(
    make_world: Any, api: str
) -> None:
    async with make_world(history_days=1, orders_per_day=200, time_scale=1.0) as w:
        calls = _count_calls(w.amazon)
        cfg = w.config(orders_api=api)
        # QAD's sim is not time-scaled: post the first sync's few hundred orders quickly.
        cfg = dataclasses.replace(
            cfg, dispatch=dataclasses.replace(cfg.dispatch, qad_rate_per_s=500)
        )
        async with w.engine(cfg) as eng:
            await _sync_orders(eng)
            w.amazon.advance(timedelta(minutes=8))  # some orders change, the rest is re-read
            before: dict[str, dict[str, Any]] = {}
            async for e in eng.log.read(streams=["amazon.orders"]):
                before[e.key] = e.payload  # newest version of each order
            listed: list[tuple[str, tuple[str, str] | None]] = []
            for poller in _orders_pollers(eng):
                _spy_listings(poller, listed)
            calls.clear()
            await _sync_orders(eng)
            after: dict[str, dict[str, Any]] = {}
            async for e in eng.log.read(streams=["amazon.orders"]):
                after[e.key] = e.payload
            freshness = {
                (r[0], _utc(r[1]))
                for r in await eng.log.query("SELECT order_id, last_update FROM order_freshness")
            }
    assert listed, "the second sync listed nothing"
    unchanged = [
        oid
        for oid, version in listed
        if oid in before
        and (before[oid]["last_update"], before[oid]["status"]) == version
        and _settled(before[oid])
    ]
    fetched = [oid for oid, _ in listed if oid not in unchanged]
    changed = [oid for oid, v in listed if oid in before and oid in fetched and v is not None
               and v[0] != before[oid]["last_update"]]  # fmt: skip
    assert unchanged, "no unchanged order re-read inside the overlap"
    assert changed, "no order changed between the two syncs"
    if api == "v0":  # exactly one items call per fetched order, none for an unchanged one
        assert calls["getOrderItems"] == len(fetched)
    new_ship_to = [
        oid
        for oid in fetched
        if after[oid]["pii"] == "sealed" and (before.get(oid) or {}).get("pii") != "sealed"
    ]
    assert calls[ADDRESS_OPS[api]] == len(new_ship_to)
    for oid, version in listed:  # no version lost: the log's newest is the listed one
        assert (after[oid]["last_update"], after[oid]["status"]) == version, oid
    posted = [oid for oid in changed if (oid, _utc(after[oid]["last_update"])) in freshness]
    assert posted, "no changed order version reached QAD"


async def test_a_crash_between_fetch_and_append_loses_no_version(make_world: Any) -> None:
    """The version table commits with the events: a poll dying before its append leaves no
    row, so the restarted poller fetches (items included) and appends every version again."""
    import aiohttp

    from engine.adapters.amazon.ratelimit import BucketRegistry
    from engine.log.sqlite import SQLiteEventLog
    from engine.pollers.orders import OrdersPollConfig
    from tests.amazon.conftest import make_client

    async with (
        make_world(history_days=1, orders_per_day=60, time_scale=1.0) as w,
        aiohttp.ClientSession() as session,
        SQLiteEventLog.open(w.tmp / "crash.db") as log,
    ):
        calls = _count_calls(w.amazon)
        mps = w.amazon.sellers[0].regions["NA"].marketplace_ids
        cfg = OrdersPollConfig(marketplace_ids=mps, api="v0", initial_lookback=timedelta(days=2))

        def poller() -> OrdersPoller:
            client = make_client(w.amazon, session, limits=BucketRegistry(enabled=False))
            return OrdersPoller(client, log, cfg)

        crashing = poller()

        async def crash(*_a: Any, **_k: Any) -> None:
            raise RuntimeError("power cut before the append")

        crashing._append = crash  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            await crashing.poll_once()
        first = calls["getOrderItems"]
        assert first > 0 and await log.query("SELECT count(*) FROM order_versions") == [(0,)]
        calls.clear()
        listed: list[tuple[str, tuple[str, str] | None]] = []
        again = poller()
        _spy_listings(again, listed)
        res = await again.poll_once()
        assert again.skipped == 0 and calls["getOrderItems"] == len(listed) == res.fetched
        newest = {e.key: e.payload async for e in log.read(streams=["amazon.orders"])}
        for oid, version in listed:
            assert (newest[oid]["last_update"], newest[oid]["status"]) == version
