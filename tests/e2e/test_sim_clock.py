"""A time-scaled simulator and the engine meet only when the engine follows its clock (issue 21.6).

``sim amazon --time-scale N`` lives ahead of the wall clock: new simulated business lies in the
wall clock's future, so an engine on ``clock = "wall"`` never sees it. With ``[amazon] clock =
"simulator"`` the engine reads ``/__sim/clock`` (here through ``Engine.open`` without an
injected clock, as the CLI does) and picks up a day of new orders after the simulator moved on.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.adapters.amazon.sim_clock import SimulatorClock
from engine.config import Config
from engine.errors import ConfigError
from engine.ops.engine import Engine
from tests.e2e.conftest import KEY, World

SCALE = 600.0


def _cfg(w: World, clock: str, db: str) -> Config:
    cfg = w.config()
    return dataclasses.replace(
        cfg,
        engine=dataclasses.replace(cfg.engine, db=str(w.tmp / db)),
        amazon=dataclasses.replace(cfg.amazon, clock=clock),
    )


async def _orders_appended(w: World, cfg: Config) -> tuple[int, Engine | None]:
    async with Engine.open(
        cfg, amazon_account=w.account, qad_settings=w.qad_settings(cfg), master_key=KEY
    ) as eng:
        report = await eng.poll(["orders"])
        assert not report.poll_errors, report.poll_errors
        return sum(r.appended for r in report.polled.values()), eng


async def test_engine_follows_the_simulator_clock_and_sees_new_business(make_world: Any) -> None:
    start = datetime.now(UTC)
    async with make_world(history_days=3, orders_per_day=40, time_scale=SCALE, start=start) as w:
        followed = _cfg(w, "simulator", "followed.db")
        wall = _cfg(w, "wall", "wall.db")
        first, eng = await _orders_appended(w, followed)
        assert first > 0
        assert eng is not None and eng.followed_clock is not None
        assert eng.followed_clock.time_scale == SCALE
        await _orders_appended(w, wall)  # the wall-clock engine catches up on history too

        w.amazon.advance(timedelta(days=1))  # a simulated day of new orders
        on_wall, _ = await _orders_appended(w, wall)
        followed_new, _ = await _orders_appended(w, followed)
    # The wall clock asks for orders up to the real "now": it sees the simulator's business at
    # real speed (the few real seconds between its polls: next to nothing), never the new day.
    assert followed_new >= 10, followed_new
    assert on_wall * 5 < followed_new, (on_wall, followed_new)


@pytest.mark.parametrize(
    "endpoint", ["", "https://sellingpartnerapi-na.amazon.com", "http://10.0.0.5:8600/{region}"]
)
def test_simulator_clock_only_on_loopback(endpoint: str) -> None:
    with pytest.raises(ConfigError, match=r"loopback|127\.0\.0\.1"):
        SimulatorClock.for_endpoint(endpoint)


def test_simulator_clock_url_from_the_endpoint_template() -> None:
    clock = SimulatorClock.for_endpoint("http://127.0.0.1:8600/{region}")
    assert clock.clock_url == "http://127.0.0.1:8600/__sim/clock"
