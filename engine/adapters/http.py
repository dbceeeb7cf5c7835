"""Shared HTTP error mapping: the one place aiohttp/asyncio failures become engine errors.

429 and 5xx are retriable, every other 4xx is fatal (401/403 -> AuthError, 409 -> Conflict, the
rest -> Rejected); timeouts -> RemoteTimeout; refused/dropped connections and truncated bodies ->
RemoteUnavailable. Response bodies are never put in messages verbatim beyond a short excerpt
(they may carry tokens or PII on some systems).

Remote answers are untrusted input: ``read_capped`` bounds a body's size, ``check_remote_url`` and
``get_following_redirects`` keep a URL that came *from* a response (a pre-signed download URL, a
redirect's ``Location``) on https, so a hostile answer cannot point us at ``file:``, a plain-http
host on the network, or a redirect loop. Both refusals are ``RemoteUnavailable`` subclasses: the
flow fails this cycle and asks again next one, while the other flows go on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime

import aiohttp
from yarl import URL

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
from engine.security.urls import is_loopback_host

__all__ = [
    "MAX_REDIRECTS",
    "ResponseTooLarge",
    "UnsafeUrl",
    "check_remote_url",
    "empty_error_hint",
    "error_for_status",
    "get_following_redirects",
    "map_http_errors",
    "parse_retry_after",
    "read_capped",
]

MAX_REDIRECTS = 5  # S3 answers directly; a few hops leave room for a CDN, a loop is cut short
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ResponseTooLarge(RemoteUnavailable):
    """A body over its cap. Callers do not retry it at once (the same answer would come back),
    but it is retriable: the next cycle asks again, and no other flow stops for it."""


class UnsafeUrl(RemoteUnavailable):
    """A URL taken from a remote answer that we refuse to fetch (scheme, host, userinfo, loop)."""


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


def empty_error_hint(status: int) -> str:
    """A reason for an error answer that carries none (e.g. a bare 404 with an empty body)."""
    hint = {
        400: "the request was malformed",
        404: "not found: check the ids in the request path (seller id, SKU, order id)",
        413: "the request body is too large",
    }.get(status, "")
    return "no error details in the response" + (f" ({hint})" if hint else "")


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


def check_remote_url(url: str | URL, *, system: str) -> URL:
    """``url`` as a yarl URL if it is safe to fetch, else UnsafeUrl naming why.

    https only; plain http only to a loopback host (the simulators). No userinfo (it would be
    sent as credentials and end up in logs). The URL itself is never put in the message: a
    pre-signed URL carries a signature that grants access until it expires.
    """
    text = str(url)
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise UnsafeUrl(f"{system}: refused a URL with whitespace or control characters")
    try:
        u = URL(text) if isinstance(url, str) else url
        scheme, host = u.scheme.lower(), u.host or ""
        userinfo = u.raw_user is not None or u.raw_password is not None
    except ValueError:
        raise UnsafeUrl(f"{system}: refused a malformed URL") from None
    if scheme == "http" and is_loopback_host(host):
        pass
    elif scheme != "https":
        raise UnsafeUrl(f"{system}: refused a {scheme or 'relative'!r} URL (https only)")
    if not host:
        raise UnsafeUrl(f"{system}: refused a URL without a host")
    if userinfo:
        raise UnsafeUrl(f"{system}: refused a URL with user:password@")
    return u


async def read_capped(
    resp: aiohttp.ClientResponse, limit: int, *, what: str, system: str, drop: bool = False
) -> bytes:
    """The whole body, but never more than ``limit`` bytes in memory: past it ResponseTooLarge,
    or ``b""`` with ``drop`` (an error page, whose status matters more than its text).

    An announced ``Content-Length`` over the cap is refused before reading anything; otherwise
    the stream is counted as it arrives (chunked bodies, or a decompressed gzip bomb). The rest
    is left unread: leaving the ``async with`` then closes the connection instead of reusing it.
    """
    announced = resp.content_length
    size = f" of {announced} bytes" if announced is not None else ""
    over = announced is not None and announced > limit
    buf = bytearray()
    if not over:
        async for chunk in resp.content.iter_chunked(1 << 16):
            buf += chunk
            if len(buf) > limit:
                over = True
                break
    if not over:
        return bytes(buf)
    if drop:
        return b""
    raise ResponseTooLarge(
        f"{system}: {what} body{size} exceeds the {limit}-byte cap",
        status=resp.status,
        system=system,
    )


@asynccontextmanager
async def get_following_redirects(
    session: aiohttp.ClientSession,
    url: str,
    *,
    system: str,
    timeout: aiohttp.ClientTimeout,
    max_redirects: int = MAX_REDIRECTS,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET ``url``, following at most ``max_redirects`` redirects, each ``Location`` checked by
    ``check_remote_url`` before it is fetched (aiohttp's own following would take any scheme and
    host). Sends no headers of ours: meant for pre-signed URLs. Yields the final response."""
    target = check_remote_url(url, system=system)
    for _ in range(max_redirects + 1):
        async with session.get(target, timeout=timeout, allow_redirects=False) as resp:
            if resp.status not in _REDIRECTS:
                yield resp
                return
            location = resp.headers.get("Location")
            if not location:
                raise UnsafeUrl(f"{system}: redirect {resp.status} without a Location")
            try:
                nxt = resp.url.join(URL(location))
            except ValueError:
                raise UnsafeUrl(f"{system}: refused a malformed redirect Location") from None
            target = check_remote_url(nxt, system=system)
    raise UnsafeUrl(f"{system}: more than {max_redirects} redirects")
