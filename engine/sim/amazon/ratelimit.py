"""Usage plans: one token bucket per (refresh token, operation), refilled on simulated time."""

from __future__ import annotations

from dataclasses import dataclass

from engine.sim.amazon.clock import SimClock

__all__ = ["DEFAULT_PLANS", "TokenBucket", "UsagePlans"]

# Amazon's default (rate req/s, burst) per operation (reference section 3).
DEFAULT_PLANS: dict[str, tuple[float, int]] = {
    "getOrders": (0.0167, 20),
    "getOrder": (0.5, 30),
    "getOrderItems": (0.5, 30),
    "getOrderAddress": (0.5, 30),
    "getOrderBuyerInfo": (0.5, 30),
    "searchOrders": (0.0056, 20),
    "getOrder2026": (0.5, 30),
    "listFinancialEventGroups": (0.5, 30),
    "createReport": (0.0167, 15),
    "getReports": (0.0222, 10),
    "getReport": (2.0, 15),
    "cancelReport": (0.0222, 10),
    "getReportDocument": (0.0167, 15),
    "getInventorySummaries": (2.0, 2),
    "getListingsItem": (5.0, 10),
    "putListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
    "createRestrictedDataToken": (1.0, 10),
    "getMarketplaceParticipations": (0.016, 15),
    # Notifications API: every operation 1 rps, burst 5 [D notifications.json]
    "createDestination": (1.0, 5),
    "getDestinations": (1.0, 5),
    "getDestination": (1.0, 5),
    "createSubscription": (1.0, 5),
    "getSubscription": (1.0, 5),
    "getSubscriptionById": (1.0, 5),
}


@dataclass(slots=True)
class TokenBucket:
    rate: float  # tokens per simulated second
    burst: int
    tokens: float
    stamp: float  # clock.seconds() of the last refill

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class UsagePlans:
    """Buckets keyed by (credential key, operation); per-seller overrides win over defaults."""

    def __init__(self, clock: SimClock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def plan(self, operation: str, overrides: dict[str, tuple[float, int]]) -> tuple[float, int]:
        return overrides.get(operation) or DEFAULT_PLANS.get(operation, (1.0, 10))

    def header_rate(self, operation: str, overrides: dict[str, tuple[float, int]]) -> str:
        """The rate in real seconds, as a client adapting to the header would observe it."""
        rate, _ = self.plan(operation, overrides)
        return f"{rate * self.clock.time_scale:.4f}".rstrip("0").rstrip(".")

    def allow(self, key: str, operation: str, overrides: dict[str, tuple[float, int]]) -> bool:
        if not self.enabled:
            return True
        now = self.clock.seconds()
        bucket = self._buckets.get((key, operation))
        if bucket is None:
            rate, burst = self.plan(operation, overrides)
            bucket = TokenBucket(rate, burst, float(burst), now)
            self._buckets[(key, operation)] = bucket
        return bucket.take(now)
