"""Fixtures: a QAD simulator on a free loopback port and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from engine.adapters.qad import QadClient, QadSettings, SalesOrder, SalesOrderLine
from engine.sim.qad import QadSimulator

TODAY = datetime.now(UTC).date()
D = Decimal
SO_HEADERS = "/api/erp/salesOrderHeaders"
LINES_GRID = "/api/erp/salesOrderLinesGrid"
FIELD_CHANGE = "/api/erp/salesOrderLines/fieldChange"


@pytest.fixture
async def sim(tmp_path) -> AsyncIterator[QadSimulator]:
    async with QadSimulator(tmp_path / "qad.db", tenants=("clouderp", "fresh"), seed=1) as qad:
        yield qad


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def settings(sim: QadSimulator) -> Callable[..., QadSettings]:
    def make(**kw: Any) -> QadSettings:
        base: dict[str, Any] = {
            "tenant_url": sim.tenant_url(),
            "username": sim.username,
            "password": sim.password,
            "request_timeout_s": 2.0,
        }
        base.update(kw)
        return QadSettings(**base)

    return make


@pytest.fixture
async def client(session, settings) -> AsyncIterator[QadClient]:
    async with QadClient(session, settings()) as c:
        yield c


@pytest.fixture
def client_with(session, settings) -> Callable[..., AbstractAsyncContextManager[QadClient]]:
    """``async with client_with(cancel_policy=...) as c:``: a started client, other settings."""

    def make(**kw: Any) -> AbstractAsyncContextManager[QadClient]:
        return QadClient(session, settings(**kw))

    return make


def posts(sim: QadSimulator, path: str) -> int:
    """POSTs the simulator received on exactly ``path`` (tenant root stripped)."""
    return sum(1 for method, p in sim.requests if method == "POST" and p == path)


def order(
    ref: str = "113-0000001-0000001", qty: str = "2", price: str = "19.99", **kw: Any
) -> SalesOrder:
    lines = (
        SalesOrderLine("10-1000", D(qty), D(price)),
        SalesOrderLine("10-1010", D("1"), D("0.10"), site="10-FBA"),
    )
    return SalesOrder(ref, kw.pop("customer", "AMZ-US"), TODAY, kw.pop("lines", lines), **kw)
