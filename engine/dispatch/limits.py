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
from typing import Protocol

from aiolimiter import AsyncLimiter

from engine.config import DispatchConfig
from engine.errors import ConfigError

__all__ = ["BucketStore", "LimiterRegistry", "Rate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_s < 0 or self.burst < 1:
            raise ConfigError(f"rate must be >= 0 and burst >= 1, got {self.per_s}/{self.burst}")


class BucketStore(Protocol):
    """Buckets kept outside this process (engine.dispatch.shared_limits): shared by workers."""

    async def acquire(self, name: str, rate: Rate) -> None: ...


class LimiterRegistry:
    """One limiter per target name (e.g. "qad", "amazon.listings").

    With ``shared`` and a bucket name for a target in ``shared_names`` (e.g. "qad" -> "qad
    https://tenant/..."), that target's tokens come from the shared store instead, so every
    worker posting to one tenant draws from one bucket.
    """

    def __init__(
        self,
        rates: Mapping[str, Rate],
        *,
        shared: BucketStore | None = None,
        shared_names: Mapping[str, str] | None = None,
    ) -> None:
        self.rates = dict(rates)
        self._limiters: dict[str, AsyncLimiter | None] = {}
        self.shared = shared
        self.shared_names = dict(shared_names or {})

    @classmethod
    def from_config(
        cls,
        cfg: DispatchConfig,
        *,
        shared: BucketStore | None = None,
        shared_names: Mapping[str, str] | None = None,
    ) -> LimiterRegistry:
        return cls(
            {
                "qad": Rate(cfg.qad_rate_per_s, cfg.qad_burst),
                "amazon.listings": Rate(cfg.listings_rate_per_s, cfg.listings_burst),
            },
            shared=shared,
            shared_names=shared_names,
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
        rate, name = self.rates.get(target), self.shared_names.get(target)
        if self.shared is not None and name is not None and rate is not None and rate.per_s:
            await self.shared.acquire(name, rate)
            return
        limiter = self.limiter(target)
        if limiter is not None:
            await limiter.acquire()
