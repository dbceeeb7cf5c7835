"""A small world with parked QAD commands, and the status page served on its event log.

The world is the e2e one (both simulators on loopback, engine/sim); the QAD simulator refuses
every write with a business error first, so the sync parks commands exactly as a closed posting
period does. ``page`` serves the page the way ``serve --db F --config F --demo-credentials``
does (engine/web/server.py ``serve_context``), through aiohttp's test client on real HTTP.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from engine.config import Config
from engine.web.app import build_app
from engine.web.server import serve_context
from tests.e2e.conftest import World
from tests.e2e.conftest import make_world as make_world  # the fixture, re-exported

CLOSED = "Posting period 2026/11 is closed for entity 10USACO"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def fast(cfg: Config) -> Config:
    return dataclasses.replace(
        cfg, dispatch=dataclasses.replace(cfg.dispatch, qad_rate_per_s=0.0, qad_burst=50)
    )


@asynccontextmanager
async def parked_world(
    factory: Callable[..., Any], message: str = CLOSED, **kw: Any
) -> AsyncIterator[tuple[World, Config]]:
    """A synced world (``factory``: the make_world fixture) whose QAD writes were all refused
    (parked), faults still on."""
    kw.setdefault("history_days", 3)
    kw.setdefault("orders_per_day", 2)
    async with factory(**kw) as w:
        cfg = fast(w.config())
        w.qad.faults.add("business_error", path="api/erp/", method="POST", message=message, times=0)
        async with w.engine(cfg) as eng:
            await eng.sync_once()
        yield w, cfg


@asynccontextmanager
async def page(cfg: Config, token: str | None = None) -> AsyncIterator[TestClient[Any, Any]]:
    async with serve_context(Path(cfg.engine.db), cfg, token, demo=True) as ctx:
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(ctx)))
        await client.start_server()
        try:
            yield client
        finally:
            await client.close()


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)
