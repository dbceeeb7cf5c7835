"""Event logs of generated orders on either backend, for the projection tests here."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from engine.log import NewEvent
from engine.log.opening import open_event_log

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_log import make_order  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The log: an SQLite file or a fresh PostgreSQL database (skipped where none can start)."""
    if request.param == "sqlite":
        return str(tmp_path / "log.db")
    return str(request.getfixturevalue("pg_dsn"))


async def seed_orders(db: str, orders: int, seed: int = 3) -> None:
    """``orders`` generated orders (deterministic for ``seed``) appended in one batch."""
    rng = random.Random(seed)
    async with open_event_log(db) as log:
        events = []
        for i in range(orders):
            payload = make_order(i, rng)
            events.append(NewEvent("amazon.orders", "OrderFetched", payload["order_id"], payload))
        await log.append(events)
