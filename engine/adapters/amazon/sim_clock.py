"""Following a time-scaled simulator's clock (``[amazon] clock = "simulator"``).

``ml-connector sim amazon --time-scale N`` lives N simulated seconds per real second. An engine
on the wall clock asks for orders up to the real "now" and never sees the simulated future the
simulator has already lived through; its token cache would also count the simulator's
``expires_in`` (simulated seconds) in real seconds and go stale. With this option every
Amazon-side "now" of the engine (order windows, LWA and RDT expiry, settlement look-back) comes
from the simulator's ``GET /__sim/clock`` and is extrapolated with its time scale between
reads, and the client's usage-plan buckets refill at the simulator's pace.

Only for the simulators: refused unless the SP-API endpoint is on loopback, so a production
config can never take its clock from a remote party.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import orjson

from engine.config.urls import is_loopback_host
from engine.errors import ConfigError, RemoteUnavailable

__all__ = ["SimulatorClock"]

_READ_TIMEOUT = aiohttp.ClientTimeout(total=10)


class SimulatorClock:
    """An aware-UTC "now" that follows the simulator's clock; call ``sync`` to re-read it."""

    def __init__(self, clock_url: str) -> None:
        self.clock_url = clock_url
        self.time_scale = 1.0
        self._base: datetime | None = None
        self._t0 = 0.0
        self._last: datetime | None = None

    @classmethod
    def for_endpoint(cls, endpoint: str) -> SimulatorClock:
        """The clock of the simulator serving ``[amazon] endpoint`` (loopback only)."""
        parts = urlsplit(endpoint.replace("{region}", "na"))
        if not endpoint or not is_loopback_host(parts.hostname or ""):
            raise ConfigError(
                '[amazon] clock = "simulator" follows a local simulator\'s clock: it needs '
                "[amazon] endpoint on 127.0.0.1/localhost (the production SP-API keeps real "
                f'time; use clock = "wall"), got endpoint {endpoint!r}'
            )
        return cls(f"{parts.scheme}://{parts.netloc}/__sim/clock")

    async def sync(self, session: aiohttp.ClientSession) -> None:
        """Read the simulator's now and time scale (also picks up ``/__sim/clock/advance``)."""
        try:
            async with session.get(
                self.clock_url, timeout=_READ_TIMEOUT, allow_redirects=False
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
            body = orjson.loads(raw)
            now = datetime.fromisoformat(str(body["now"]))
            scale = float(body["timeScale"])
            if now.tzinfo is None or not scale > 0:
                raise ValueError("a naive time or a non-positive scale")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RemoteUnavailable(
                f"simulator clock {self.clock_url} unreachable: {exc or type(exc).__name__}",
                system="amazon",
            ) from None
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            raise ConfigError(
                f'[amazon] clock = "simulator": {self.clock_url} is not a simulator clock ({exc})'
            ) from None
        self._base, self._t0, self.time_scale = now.astimezone(UTC), time.monotonic(), scale

    def __call__(self) -> datetime:
        if self._base is None:
            raise RuntimeError("SimulatorClock.sync() must run before the clock is read")
        now = self._base + timedelta(seconds=(time.monotonic() - self._t0) * self.time_scale)
        # A re-read may land a little behind the extrapolation: never let time run backwards
        # (order windows and token expiry assume a monotonic now).
        if self._last is not None and now < self._last:
            return self._last
        self._last = now
        return now
