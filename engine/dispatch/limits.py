"""Per-target token buckets (aiolimiter), built lazily inside the running event loop.

``rate`` is requests per second, ``burst`` the bucket size: AsyncLimiter(max_rate=burst,
time_period=burst / rate) lets ``burst`` requests through at once and then ``rate`` per second.
``rate = 0`` means unlimited. AsyncLimiter binds to the loop it first runs in, so the registry
creates each limiter on first use (never at import or config time).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from engine.config import DispatchConfig
from engine.errors import ConfigError

__all__ = ["LimiterRegistry", "Rate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_s < 0 or self.burst < 1:
            raise ConfigError(f"rate must be >= 0 and burst >= 1, got {self.per_s}/{self.burst}")


class LimiterRegistry:
    """One limiter per target name (e.g. "qad", "amazon.listings")."""

    def __init__(self, rates: Mapping[str, Rate]) -> None:
        self.rates = dict(rates)
        self._limiters: dict[str, AsyncLimiter | None] = {}

    @classmethod
    def from_config(cls, cfg: DispatchConfig) -> LimiterRegistry:
        return cls(
            {
                "qad": Rate(cfg.qad_rate_per_s, cfg.qad_burst),
                "amazon.listings": Rate(cfg.listings_rate_per_s, cfg.listings_burst),
            }
        )

    def limiter(self, target: str) -> AsyncLimiter | None:
        """The target's limiter (None = unlimited)."""
        if target not in self._limiters:
            rate = self.rates.get(target)
            if rate is None:
                log.warning("no rate configured for target %r: not limited", target)
            if rate is None or rate.per_s == 0:
                self._limiters[target] = None
            else:
                self._limiters[target] = AsyncLimiter(rate.burst, rate.burst / rate.per_s)
        return self._limiters[target]

    async def acquire(self, target: str) -> None:
        """Wait for a token of ``target``'s bucket."""
        limiter = self.limiter(target)
        if limiter is not None:
            await limiter.acquire()
