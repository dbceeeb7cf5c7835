"""Retry timing (exponential backoff with full jitter) and a per-operation circuit breaker."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import RemoteUnavailable

__all__ = ["Backoff", "CircuitBreaker", "CircuitOpen"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter backoff: sleep uniform(0, min(cap, base * 2**attempt)), at least retry_after."""

    base: float = 0.5
    cap: float = 30.0
    max_tries: int = 6

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before try ``attempt + 1`` (attempt counts from 0)."""
        r = rng or random
        d = r.uniform(0.0, min(self.cap, self.base * (2**attempt)))
        if retry_after is not None:
            d = max(d, min(retry_after, self.cap))
        return d


class CircuitOpen(RemoteUnavailable):
    """The operation failed too often recently; calls are refused until the cool-down ends."""


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures; half-open after ``cooldown`` s.

    In half-open state one trial call is let through: success closes, failure re-opens.
    """

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        """ "closed", "open" or "half-open"."""
        if self.opened_at is None:
            return "closed"
        if self._clock() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def before_call(self, name: str) -> None:
        """Raise CircuitOpen unless a call may go out now."""
        st = self.state
        if st == "open" or (st == "half-open" and self._trial):
            assert self.opened_at is not None
            left = self.cooldown - (self._clock() - self.opened_at)
            raise CircuitOpen(
                f"amazon: circuit open for {name} after {self.failures} failures",
                retry_after=max(left, 0.0),
                system="amazon",
            )
        if st == "half-open":
            self._trial = True

    def success(self) -> None:
        """A call succeeded: close."""
        self.failures = 0
        self.opened_at = None
        self._trial = False

    def failure(self) -> None:
        """A call failed with a retriable error: count, maybe open."""
        self.failures += 1
        self._trial = False
        if self.failures >= self.threshold:
            self.opened_at = self._clock()
