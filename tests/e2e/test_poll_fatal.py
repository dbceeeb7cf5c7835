"""A fatal error in one poller ends the pass and cancels its siblings (no orphaned pollers)."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.errors import AuthError, RemoteUnavailable
from engine.pollers.base import PollResult


class Fatal:
    async def poll_once(self) -> PollResult:
        await asyncio.sleep(0.05)
        raise AuthError("refresh token revoked")


class Slow:
    def __init__(self) -> None:
        self.cancelled = False

    async def poll_once(self) -> PollResult:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("not reached")


class Flaky:
    async def poll_once(self) -> PollResult:
        raise RemoteUnavailable("503 from SP-API")


async def test_fatal_poll_error_cancels_siblings_and_propagates(make_world):
    async with make_world(history_days=2) as w, w.engine(w.config()) as eng:
        slow = Slow()
        eng.pollers = {"orders:NA": Fatal(), "inventory:NA": slow, "fba:EU": Flaky()}
        t0 = time.monotonic()
        with pytest.raises(AuthError):
            await eng.poll()
        assert slow.cancelled
        assert time.monotonic() - t0 < 5

        # A retriable failure is only recorded; the other flows still report.
        eng.pollers = {"fba:EU": Flaky()}
        report = await eng.poll()
        assert "RemoteUnavailable" in report.poll_errors["fba:EU"]
