"""Shared HTTP error mapping: the one place aiohttp/asyncio failures become engine errors.

429 and 5xx are retriable, every other 4xx is fatal (401/403 -> AuthError, 409 -> Conflict, the
rest -> Rejected); timeouts -> RemoteTimeout; refused/dropped connections and truncated bodies ->
RemoteUnavailable. Response bodies are never put in messages verbatim beyond a short excerpt
(they may carry tokens or PII on some systems).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime

import aiohttp

from engine.errors import (
    AuthError,
    Conflict,
    FatalRemoteError,
    RateLimited,
    Rejected,
    RemoteError,
    RemoteTimeout,
    RemoteUnavailable,
)

__all__ = ["error_for_status", "map_http_errors", "parse_retry_after"]


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if present."""
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def error_for_status(
    status: int,
    message: str,
    *,
    system: str,
    retry_after: float | None = None,
) -> RemoteError:
    """The engine error for a non-2xx HTTP status (caller raises it)."""
    text = f"{system} HTTP {status}: {message[:300]}"
    if status == 429:
        return RateLimited(text, status=status, retry_after=retry_after, system=system)
    if status >= 500:
        return RemoteUnavailable(text, status=status, retry_after=retry_after, system=system)
    if status in (401, 403):
        return AuthError(text, status=status, system=system)
    if status == 409:
        return Conflict(text, status=status, system=system)
    if 400 <= status < 500:
        return Rejected(text, status=status, system=system)
    return FatalRemoteError(text, status=status, system=system)


@asynccontextmanager
async def map_http_errors(system: str) -> AsyncIterator[None]:
    """Translate aiohttp/asyncio exceptions raised inside the block into engine errors."""
    try:
        yield
    except RemoteError:
        raise
    except aiohttp.ClientResponseError as exc:
        raise error_for_status(exc.status, exc.message, system=system) from exc
    except TimeoutError as exc:
        raise RemoteTimeout(f"{system}: no answer in time", system=system) from exc
    except aiohttp.ClientPayloadError as exc:
        raise RemoteUnavailable(f"{system}: truncated body ({exc})", system=system) from exc
    except aiohttp.ClientConnectionError as exc:
        raise RemoteUnavailable(f"{system}: connection failed ({exc})", system=system) from exc
    except aiohttp.ClientError as exc:
        raise RemoteUnavailable(f"{system}: {exc}", system=system) from exc
