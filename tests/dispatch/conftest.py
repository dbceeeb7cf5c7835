"""Fixtures: a real QAD simulator over HTTP, a real QAD client, a real SQLite log + outbox."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.adapters.qad import QadClient, QadSettings
from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Command, make_command
from engine.config import DispatchConfig
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.handlers import qad_handlers
from engine.dispatch.limits import LimiterRegistry, Rate
from engine.dispatch.retry import RetryPolicy
from engine.log.opening import open_event_log
from engine.sim import business
from engine.sim.qad import QadSimulator

ITEMS = [it.item_code for it in business.catalog()]
TODAY = date.today().isoformat()


@pytest.fixture
async def qad(tmp_path: Path) -> AsyncIterator[QadSimulator]:
    async with QadSimulator(tmp_path / "qad.db", seed=3) as sim:
        yield sim


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def qad_settings(qad: QadSimulator, timeout_s: float = 5.0) -> QadSettings:
    return QadSettings(
        tenant_url=qad.tenant_url(),
        username=qad.username,
        password=qad.password,
        request_timeout_s=timeout_s,
    )


@pytest.fixture
async def client(qad: QadSimulator, session: aiohttp.ClientSession) -> AsyncIterator[QadClient]:
    async with QadClient(session, qad_settings(qad, timeout_s=1.0)) as c:
        yield c


@pytest.fixture(params=["sqlite", "postgresql"])
def log_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the outbox's log is: an SQLite file, or a fresh PostgreSQL database (skipped with
    the reason where no server can start). The same outbox tests run on both."""
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture
async def outbox(log_target: str) -> AsyncIterator[Outbox]:
    async with open_event_log(log_target) as log:
        box = Outbox(log)
        await box.ensure()
        yield box


FAST = DispatchConfig(
    concurrency=4,
    max_attempts=4,
    timeout_s=5.0,
    retry_base_s=0.02,
    retry_cap_s=0.1,
    qad_rate_per_s=0,
    listings_rate_per_s=0,
)


def make_dispatcher(outbox: Outbox, handlers: Any, config: DispatchConfig = FAST) -> Dispatcher:
    return Dispatcher(
        outbox.log,
        outbox,
        handlers,
        LimiterRegistry({"qad": Rate(0)}),
        config,
        policy=RetryPolicy(
            config.retry_base_s, config.retry_cap_s, config.max_attempts, random.Random(1)
        ),
    )


@pytest.fixture
def dispatcher_for(outbox: Outbox) -> Callable[..., Dispatcher]:
    def build(client: Any, config: DispatchConfig = FAST) -> Dispatcher:
        return make_dispatcher(outbox, qad_handlers(client), config)

    return build


async def add(outbox: Outbox, *commands: Command, projector: str = "test") -> int:
    async with outbox.log.transaction() as tx:
        return await outbox.add_commands(tx, list(commands), projector)


def so_create(order_id: str, *lines: tuple[str, str, str], customer: str = "AMZ-US") -> Command:
    body = {
        "reference": order_id,
        "customer": customer,
        "order_date": TODAY,
        "currency": "USD",
        "site": "10-100",
        "channel": "AMAZON",
        "lines": [
            {"line": i, "item": item, "quantity": q, "price": p, "site": "10-100"}
            for i, (item, q, p) in enumerate(lines, start=1)
        ],
    }
    return make_command("qad.sales_order.create", "qad", order_id, order_id, body)


def so_update(order_id: str, line: int, quantity: str, price: str, cancel: bool = False) -> Command:
    body = {
        "reference": order_id,
        "lines": [{"line": line, "quantity": quantity, "price": price}],
        "cancel": cancel,
    }
    return make_command("qad.sales_order.update", "qad", order_id, order_id, body)
