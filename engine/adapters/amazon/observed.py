"""An SP-API client that reports every HTTP try to an ``Observer`` (metrics).

A subclass rather than a hook inside ``client.py`` (that module is at its size limit): it wraps
``_send``, the single place one HTTP exchange happens, so each try of a retried call is counted
with its own outcome and latency, and a 429 is counted as throttled where it happened. Only the
operation name and region leave here, never the URL (it may carry an order id) or a body.
"""

from __future__ import annotations

import time
from typing import Any

from yarl import URL

from engine.adapters.amazon.client import AmazonClient, Response, _ExpiredToken
from engine.adapters.amazon.retry import CircuitBreaker
from engine.observe import NULL_OBSERVER, Observer, RemoteCall, outcome_of

__all__ = ["ObservedAmazonClient"]


class ObservedAmazonClient(AmazonClient):
    """``AmazonClient`` plus ``observer`` (set after construction; NULL_OBSERVER by default)."""

    def __init__(self, *args: Any, observer: Observer = NULL_OBSERVER, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observer = observer

    async def _send(
        self,
        operation: str,
        method: str,
        url: URL,
        headers: dict[str, str],
        data: bytes | None,
        breaker: CircuitBreaker,
    ) -> Response:
        started = time.monotonic()
        try:
            resp = await super()._send(operation, method, url, headers, data, breaker)
        except Exception as exc:
            # a 403 "access token expired" is retried once by the caller: counted as rejected
            status = 403 if isinstance(exc, _ExpiredToken) else _int(getattr(exc, "status", None))
            self._report(operation, method, outcome_of(status, exc), started)
            raise
        self._report(operation, method, outcome_of(resp.status, None), started)
        return resp

    def _report(self, operation: str, method: str, outcome: str, started: float) -> None:
        self.observer.remote_call(
            RemoteCall(
                system="amazon",
                operation=operation,
                region=self.region,
                method=method,
                outcome=outcome,
                seconds=time.monotonic() - started,
            )
        )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
