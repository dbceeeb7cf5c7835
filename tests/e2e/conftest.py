"""Both simulators on loopback plus an engine pointed at them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from engine.adapters.qad.settings import QadSettings
from engine.config import Config
from engine.ops.credentials import profile_settings
from engine.ops.demo import simulator_config
from engine.ops.engine import Engine
from engine.sim.amazon import AmazonSimulator
from engine.sim.qad import QadSimulator
from tests.amazon.conftest import account_of

KEY = os.urandom(32)


class World:
    def __init__(self, amazon: Any, qad: Any, tmp: Path) -> None:
        self.amazon = amazon
        self.qad = qad
        self.tmp = tmp
        self.account = account_of(amazon)

    def config(self, **kw: Any) -> Config:
        return simulator_config(
            self.tmp / "events.db",
            amazon_base=self.amazon.base_url,
            lwa_url=self.amazon.lwa_url,
            qad_url=kw.pop("qad_url", self.qad.tenant_url()),
            **kw,
        )

    def qad_settings(self, cfg: Config, *, timeout_s: float = 10.0) -> QadSettings:
        return QadSettings(
            tenant_url=cfg.qad.tenant_url,
            username=self.qad.username,
            password=self.qad.password,
            domain=cfg.qad.domain,
            entity=cfg.qad.entity,
            request_timeout_s=timeout_s,
            **profile_settings(cfg),
        )

    @asynccontextmanager
    async def engine(self, cfg: Config, **kw: Any) -> AsyncIterator[Engine]:
        async with Engine.open(
            cfg,
            amazon_account=self.account,
            qad_settings=self.qad_settings(cfg, timeout_s=kw.pop("qad_timeout_s", 10.0)),
            master_key=KEY,
            amazon_clock=self.amazon.clock.now,
            amazon_rate_limits=kw.pop("rate_limits", False),
            **kw,
        ) as eng:
            yield eng


@pytest.fixture
def make_world(tmp_path: Path) -> Callable[..., Any]:
    @asynccontextmanager
    async def factory(**sim_kw: Any) -> AsyncIterator[World]:
        sim_kw.setdefault("seed", 3)
        sim_kw.setdefault("history_days", 20)
        sim_kw.setdefault("orders_per_day", 6)
        sim_kw.setdefault("rate_limits", False)
        sim_kw.setdefault("time_scale", 120.0)
        tenants = sim_kw.pop("tenants", ("clouderp",))
        qad_kw = sim_kw.pop("qad_kw", {})
        async with (
            AmazonSimulator(**sim_kw) as amazon,
            QadSimulator(tmp_path / "qad.db", tenants=tenants, **qad_kw) as qad,
        ):
            yield World(amazon, qad, tmp_path)

    return factory
