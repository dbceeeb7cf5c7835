"""Client-side usage plans: one token bucket per (seller, region, operation).

Seeded with Amazon's default rate/burst (reference section 3) and adapted when a response's
``x-amzn-RateLimit-Limit`` header reports another rate. A request is only sent once the local
bucket holds a token, so no request is sent that the bucket knows will 429. After a 429 the bucket
is emptied (the server's bucket evidently is).

The server's bucket starts counting when our first request *arrives*, not when our bucket was
created: the burst leaves at once, and its first request can be the slowest (connection set-up,
LWA). So refill is only trusted from the first response on (``anchor``): until then nothing
beyond the burst is sent (bounded by a short grace, as a 5xx is not reported here), and queued
requests are pushed back by the refill credited before it, as they are when a lower rate is
adopted from the header.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_PLANS", "BucketRegistry", "TokenBucket", "UsagePlan"]


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """Requests per second and burst of one operation."""

    rate: float
    burst: int


# Amazon's default usage plans (reference section 3, from the models).
DEFAULT_PLANS: dict[str, UsagePlan] = {
    "getOrders": UsagePlan(0.0167, 20),
    "getOrder": UsagePlan(0.5, 30),
    "getOrderItems": UsagePlan(0.5, 30),
    "getOrderAddress": UsagePlan(0.5, 30),
    "getOrderBuyerInfo": UsagePlan(0.5, 30),
    "getOrderItemsBuyerInfo": UsagePlan(0.5, 30),
    "searchOrders": UsagePlan(0.0056, 20),
    "getOrder2026": UsagePlan(0.5, 30),
    "listFinancialEventGroups": UsagePlan(0.5, 30),
    "listFinancialEventsByGroupId": UsagePlan(0.5, 30),
    "listFinancialEvents": UsagePlan(0.5, 30),
    "listTransactions": UsagePlan(0.5, 10),
    "createReport": UsagePlan(0.0167, 15),
    "getReports": UsagePlan(0.0222, 10),
    "getReport": UsagePlan(2.0, 15),
    "cancelReport": UsagePlan(0.0222, 10),
    "getReportDocument": UsagePlan(0.0167, 15),
    "getInventorySummaries": UsagePlan(2.0, 2),
    "getListingsItem": UsagePlan(5.0, 10),
    "putListingsItem": UsagePlan(5.0, 10),
    "patchListingsItem": UsagePlan(5.0, 5),
    "searchListingsItems": UsagePlan(5.0, 5),
    "createRestrictedDataToken": UsagePlan(1.0, 10),
    "getMarketplaceParticipations": UsagePlan(0.016, 15),
    "searchCatalogItems": UsagePlan(2.0, 2),
    "getCatalogItem": UsagePlan(2.0, 2),
}
FALLBACK_PLAN = UsagePlan(0.5, 10)


class TokenBucket:
    """A token bucket (rate tokens/s, capacity ``burst``) that callers wait on.

    ``acquire`` reserves a token and sleeps until it exists, so concurrent callers queue fairly
    (FIFO by reservation) and the bucket never goes below zero at send time.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        headroom: float = 1.0,
        first_response_grace_s: float | None = None,
    ) -> None:
        self.rate = rate  # the plan's nominal rate (utilisation is measured against it)
        # Refill a little slower than the plan: the server's clock and ours drift by the
        # network latency, and at exactly 100 % that drift shows up as the odd 429.
        self.headroom = headroom
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self.granted = 0  # requests let through (for utilisation figures)
        self._allowed = float(burst)  # burst + integral of rate dt (rates change on adaptation)
        self._anchored = first_response_grace_s is None  # None: trust refill from creation
        self._grace = first_response_grace_s or 0.0
        self._first: asyncio.Event | None = None
        self._shift = 0.0  # seconds queued requests must add to their wait (see ``anchor``)

    def _refill(self) -> None:
        now = self._clock()
        dt = now - self._stamp
        self._allowed += dt * self.rate
        self._tokens = min(float(self.burst), self._tokens + dt * self.rate * self.headroom)
        self._stamp = now

    def reserve(self) -> float:
        """Take one token (possibly borrowed) and return how long to wait before using it."""
        self._refill()
        self._tokens -= 1.0
        self.granted += 1
        return 0.0 if self._tokens >= 0 else -self._tokens / (self.rate * self.headroom)

    async def acquire(self) -> None:
        """Wait until a token is available and consume it."""
        delay = self.reserve()
        shift = self._shift
        if not self._anchored and self.granted > self.burst:
            # Beyond the burst before any response: the server's refill may not have started.
            if self._first is None:
                self._first = asyncio.Event()
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first.wait(), delay + self._grace)
            delay = max(delay - (loop.time() - t0), 0.0) + self._shift - shift
            shift = self._shift
        while delay > 0:
            await asyncio.sleep(delay)
            # Pushed back while asleep (anchor, lower rate): wait the difference too.
            delay, shift = self._shift - shift, self._shift

    def _debit(self, tokens: float) -> None:
        """Take ``tokens`` more from the bucket; queued requests wait that much longer."""
        if tokens > 0:
            self._tokens -= tokens
            self._shift += tokens / (self.rate * self.headroom)

    def anchor(self) -> None:
        """First response seen: count refill from now, not from the bucket's creation.

        The server's bucket started no later than now with ``burst`` tokens, and every request
        granted so far arrives at it from now on at the latest, so ``burst - granted`` is a
        safe lower bound of what it holds.
        """
        if self._anchored:
            return
        self._anchored = True
        self._refill()
        self._debit(self._tokens - min(self._tokens, float(self.burst) - self.granted))
        if self._first is not None:
            self._first.set()

    def set_rate(self, rate: float) -> None:
        """Adopt the rate the server reported (x-amzn-RateLimit-Limit)."""
        if rate > 0 and abs(rate - self.rate) > 1e-9 * max(rate, self.rate):
            self._refill()
            if rate < self.rate and self._tokens < 0:
                # The debt of queued requests now takes longer to repay: push them back.
                self._shift += -self._tokens / (rate * self.headroom) - -self._tokens / (
                    self.rate * self.headroom
                )
            self.rate = rate

    def drain(self) -> None:
        """The server said 429: its bucket is empty, so ours must be too."""
        self._refill()
        self._tokens = min(self._tokens, 0.0)

    def allowed(self) -> float:
        """Requests the plan allowed since creation: burst + integral of rate (utilisation base)."""
        self._refill()
        return self._allowed


class BucketRegistry:
    """Buckets keyed by (seller, region, operation), created lazily inside the running loop."""

    def __init__(
        self,
        plans: dict[str, UsagePlan] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
        time_scale: float = 1.0,
        headroom: float = 0.97,
        first_response_grace_s: float = 0.25,
    ) -> None:
        self._headroom = headroom
        self._grace = first_response_grace_s
        # time_scale: a simulator running its clock faster refills its buckets that much faster.
        base = DEFAULT_PLANS if plans is None else plans
        self._plans = {k: UsagePlan(p.rate * time_scale, p.burst) for k, p in base.items()}
        self._fallback = UsagePlan(FALLBACK_PLAN.rate * time_scale, FALLBACK_PLAN.burst)
        self._clock = clock
        self._time_scale = time_scale
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self.enabled = enabled

    def bucket(self, seller: str, region: str, operation: str) -> TokenBucket:
        """The bucket for one operation of one seller in one region."""
        key = (seller, region, operation)
        b = self._buckets.get(key)
        if b is None:
            plan = self._plans.get(operation, self._fallback)
            b = self._buckets[key] = TokenBucket(
                plan.rate,
                plan.burst,
                clock=self._clock,
                headroom=self._headroom,
                first_response_grace_s=self._grace,
            )
        return b

    async def acquire(self, seller: str, region: str, operation: str) -> None:
        """Wait for a token of this operation (no-op when client-side limiting is disabled)."""
        if self.enabled:
            await self.bucket(seller, region, operation).acquire()

    def observe_limit(self, seller: str, region: str, operation: str, header: str | None) -> None:
        """Adapt to a response's ``x-amzn-RateLimit-Limit`` (absent on 429 and sometimes 2xx).

        Called for every 2xx/400/404 response, so it also anchors the bucket's refill.
        """
        if self.enabled:
            self.bucket(seller, region, operation).anchor()
        if not header:
            return
        try:
            rate = float(header)
        except ValueError:
            return
        # The header is per simulated second on a time-scaled simulator: scale it like the plans
        # (unscaled, a x30 simulator's 0.0056/s would make the engine wait 30 times too long).
        self.bucket(seller, region, operation).set_rate(rate * self._time_scale)

    def throttled(self, seller: str, region: str, operation: str) -> None:
        """Record a 429 for this operation."""
        b = self.bucket(seller, region, operation)
        b.anchor()
        b.drain()

    def buckets(self) -> dict[tuple[str, str, str], TokenBucket]:
        """All buckets created so far (for figures)."""
        return dict(self._buckets)
