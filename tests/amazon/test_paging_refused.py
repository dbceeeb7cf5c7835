"""A refused paging token (v0 "We could not decode your NextToken" [C models#2382]) restarts the
listing like an expired one, over real HTTP against the simulator: nothing is lost or doubled,
and the snapshot that results is whole."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.adapters.amazon.client import _paging_token_refused
from engine.adapters.amazon.inventory import fba_snapshot
from engine.adapters.amazon.orders import get_orders_v0
from engine.errors import Rejected, RemoteUnavailable
from engine.sim.amazon.common import PagingTokens
from tests.amazon.conftest import make_client

US = "ATVPDKIKX0DER"


def test_the_decode_answer_counts_as_a_refused_token() -> None:
    # The text is what counts: the error code of this answer is not documented [U] (with
    # "InvalidInput" the old rule matched by accident, on the code's "invalid").
    for code in ("", "BadRequest", "InvalidInput"):
        exc = Rejected(f"getOrders: {code} {PagingTokens.DECODE_ERROR}", status=400)
        assert _paging_token_refused(exc), code
    assert not _paging_token_refused(Rejected("getOrders: InvalidInput bad date", status=400))


async def test_v0_orders_restart_after_an_undecodable_next_token(sim, session) -> None:
    client = make_client(sim, session)
    before = sim.clock.now() - timedelta(minutes=3)
    after = before - timedelta(days=2)
    sim.faults.add("undecodable_next_token", operation="getOrders", skip=1)  # page 3's token
    seen: list[str] = []
    async for orders, _ in get_orders_v0(client, [US], after, before, page_size=7):
        seen += [o["AmazonOrderId"] for o in orders]
    assert not sim.faults.rules, "the fault never fired: the listing had too few pages"
    b = before.timestamp()
    truth = {
        o.order_id
        for o in sim.truth.orders(marketplace_id=US)
        if after.timestamp() <= o.last_update(b) < b
    }
    assert len(truth) > 14
    # restarted from page one: the first pages came twice, and every order is there
    assert set(seen) == truth and len(seen) > len(truth)


async def test_fba_snapshot_restarts_and_is_whole(sim, session) -> None:
    client = make_client(sim, session)
    sim.faults.add("undecodable_next_token", operation="getInventorySummaries")
    items = await fba_snapshot(client, US)
    assert not sim.faults.rules
    assert items == sim.truth.fba_inventory(None, US)


async def test_a_token_refused_every_time_ends_retriable_not_partial(sim, session) -> None:
    client = make_client(sim, session)
    sim.faults.add("undecodable_next_token", operation="getInventorySummaries", count=None)
    with pytest.raises(RemoteUnavailable, match="paging token"):
        await fba_snapshot(client, US)
