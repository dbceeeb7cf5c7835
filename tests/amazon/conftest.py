"""Fixtures: the Amazon simulator, a client per region, an event log, a PII sealer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.retry import Backoff
from engine.log.sqlite import SQLiteEventLog
from engine.sim.amazon import AmazonSimulator


def account_of(sim: AmazonSimulator, i: int = 0) -> AmazonAccount:
    s = sim.sellers[i]
    return AmazonAccount(
        client_id=s.client_id,
        client_secret=s.client_secret,
        refresh_tokens={r: c.refresh_token for r, c in s.regions.items()},
        seller_id=s.seller_id,
        name=s.name,
    )


def make_client(sim, session, region="NA", *, limits=None, i=0, max_tries=6):
    return AmazonClient(
        session,
        account_of(sim, i),
        region,
        endpoint=sim.endpoint(region),
        lwa_url=sim.lwa_url,
        clock=sim.clock.now,
        limits=limits if limits is not None else BucketRegistry(time_scale=sim.clock.time_scale),
        backoff=Backoff(base=0.01, cap=0.2, max_tries=max_tries),
    )


@pytest.fixture
async def sim() -> AsyncIterator[AmazonSimulator]:
    async with AmazonSimulator(seed=1, time_scale=60.0, history_days=3, orders_per_day=30) as s:
        yield s


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def event_log(tmp_path) -> AsyncIterator[SQLiteEventLog]:
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        yield log


_ = timedelta
