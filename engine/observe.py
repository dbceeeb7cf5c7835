"""What the lower layers report to whoever watches them (metrics), without importing ``ops``.

The adapters (SP-API, QAD) and the dispatcher call an ``Observer`` after every remote call and
every command attempt; ``engine.ops.metrics.Metrics`` implements it with prometheus_client. The
default is ``NULL_OBSERVER``, so code that nobody watches (tests, ``ping``, ``replay``) pays
nothing. Layer: just above ``errors``, the only module it imports. Observers get labels of a
small, closed vocabulary only (system, operation, region, method, outcome): never an order id,
SKU, URL or body, so nothing here can leak buyer data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.errors import FatalRemoteError, RateLimited, RetriableRemoteError

__all__ = ["NULL_OBSERVER", "NullObserver", "Observer", "RemoteCall", "outcome_of"]


@dataclass(frozen=True, slots=True)
class RemoteCall:
    """One HTTP exchange with a remote system (one try: a retried call reports each try)."""

    system: str  # "amazon" | "qad"
    operation: str  # SP-API operation name / QAD path key ("sales_order_headers")
    region: str  # "NA" | "EU" | "FE"; "" for QAD
    method: str  # "GET", "POST", ...
    outcome: str  # see ``outcome_of``
    seconds: float


class Observer(Protocol):
    def remote_call(self, call: RemoteCall) -> None: ...

    def command_attempt(self, kind: str, outcome: str, seconds: float) -> None:
        """``kind``: the command kind ("qad.sales_order.create"); ``outcome``: the attempt's
        outcome as recorded in the outbox (ok, exists, skipped, retry, unknown, parked, ...)."""


class NullObserver:
    def remote_call(self, call: RemoteCall) -> None:
        return None

    def command_attempt(self, kind: str, outcome: str, seconds: float) -> None:
        return None


NULL_OBSERVER: Observer = NullObserver()


def outcome_of(status: int | None, exc: BaseException | None) -> str:
    """One word for how a call ended: ok, throttled (429), rejected (other 4xx, a refused
    login), server_error (5xx), timeout, unavailable (connection refused/dropped, unreadable or
    oversized body, outcome unknown), error (anything else)."""
    if exc is None and status is not None and status < 400:
        return "ok"
    if status is not None and status >= 400:
        if status == 429:
            return "throttled"
        return "server_error" if status >= 500 else "rejected"
    if isinstance(exc, RateLimited):
        return "throttled"
    if isinstance(exc, TimeoutError):  # RemoteTimeout is one too
        return "timeout"
    if isinstance(exc, RetriableRemoteError):
        return "unavailable"
    if isinstance(exc, FatalRemoteError):
        return "rejected"
    return "error"
