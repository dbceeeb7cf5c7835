"""Fixtures: a QAD simulator on a free loopback port and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from engine.adapters.qad import QadClient, QadSettings
from engine.sim.qad import QadSimulator


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
