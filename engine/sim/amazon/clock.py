"""Simulated UTC clock: start + real elapsed x time_scale + explicit advances."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["SimClock"]


class SimClock:
    """Monotonic simulated time; ``advance`` lets tests jump forward deterministically."""

    def __init__(self, start: datetime, time_scale: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.start = start.astimezone(UTC)
        self.time_scale = time_scale
        self._t0 = time.monotonic()
        self._offset = 0.0

    def seconds(self) -> float:
        """Simulated seconds since ``start``."""
        return (time.monotonic() - self._t0) * self.time_scale + self._offset

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds())

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the simulated clock only moves forward")
        self._offset += delta.total_seconds()
