"""The SP-API client for one seller in one region: auth, usage plans, retries, paging.

Every call goes through ``AmazonClient.call``: circuit breaker -> local token bucket -> LWA (or
RDT) token -> HTTP -> error mapping. 429/5xx/timeouts are retried with full-jitter backoff up to
``Backoff.max_tries``; a 403 "access token ... expired" invalidates the cached token and retries
once; every other 4xx raises ``Rejected``/``AuthError`` at once.

Bodies are capped (``MAX_BODY_BYTES``, per operation ``body_caps``): a bigger one raises
``ResponseTooLarge``, never retried within the call (the same answer would come back) but
retriable, so the flow asks again next cycle; a hostile 1 GB answer costs no 2 GB of memory.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
import orjson
from yarl import URL

from engine.adapters.amazon.auth import AmazonAccount, LwaAuth, utc_now
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.regions import HOSTS
from engine.adapters.amazon.retry import Backoff, CircuitBreaker
from engine.adapters.http import (
    ResponseTooLarge,
    empty_error_hint,
    error_for_status,
    map_http_errors,
    parse_retry_after,
    read_capped,
)
from engine.errors import (
    AuthError,
    ConfigError,
    ParseError,
    RateLimited,
    Rejected,
    RemoteError,
    RemoteUnavailable,
    RetriableRemoteError,
)

__all__ = ["MAX_BODY_BYTES", "AmazonClient", "PagingStyle", "Response", "iso_z"]

log = logging.getLogger(__name__)

PagingStyle = Literal["v0", "v2026", "reports", "fba", "listings", "finances"]

USER_AGENT = f"ml-connector/0.1 (Language=Python/{platform.python_version()}; Platform=Linux)"
MAX_BODY_BYTES = 32 << 20  # a full getReports/orders page is well under 1 MiB
ERROR_BODY_BYTES = 64 << 10  # the error envelope is a few hundred bytes
PAGING_RESTARTS = 3  # paginate: restarts after an expired next token before giving up


def iso_z(ts: datetime) -> str:
    """ISO-8601 UTC with ``Z`` and second precision (what SP-API expects in queries)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Response:
    """A successful SP-API response."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


def _error_text(body: Any, status: int = 0) -> tuple[str, str]:
    """(code, "message | details") of the SP-API error envelope, else a hint for ``status``."""
    if isinstance(body, dict):
        errs = body.get("errors")
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            e = errs[0]
            msg = " | ".join(str(x) for x in (e.get("message"), e.get("details")) if x)
            return str(e.get("code") or ""), msg
    return "", empty_error_hint(status)


class AmazonClient:
    """SP-API for one seller in one region.

    Args:
        session: shared aiohttp session (never created here).
        account: credentials (client id/secret, refresh token per region, seller id).
        region: "NA", "EU" or "FE".
        endpoint: base URL override (simulator: ``sim.endpoint(region)``); default production host.
        lwa_url: LWA token URL.
        clock: aware-UTC now (pass the simulator's clock in tests; real time otherwise).
        limits: shared bucket registry (one per engine; keyed by seller/region/operation).
        backoff: retry timing for 429/5xx/timeouts.
        max_body_bytes: cap of a successful response body; ``body_caps``: per-operation caps.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account: AmazonAccount,
        region: str,
        *,
        endpoint: str | None = None,
        lwa_url: str = "https://api.amazon.com/auth/o2/token",
        clock: Callable[[], datetime] = utc_now,
        limits: BucketRegistry | None = None,
        backoff: Backoff | None = None,
        breaker_threshold: int = 8,
        breaker_cooldown_s: float = 30.0,
        timeout_s: float = 30.0,
        rng: random.Random | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_caps: Mapping[str, int] | None = None,
    ) -> None:
        if region not in HOSTS:
            raise ConfigError(f"amazon.region must be one of NA, EU, FE, got {region!r}")
        self.session = session
        self.account = account
        self.region = region
        self.base = (endpoint or HOSTS[region]).rstrip("/")
        self.clock = clock
        self.auth = LwaAuth(
            session, account, region, lwa_url=lwa_url, clock=clock, timeout_s=timeout_s
        )
        self.limits = limits if limits is not None else BucketRegistry()
        self.backoff = backoff or Backoff()
        self._breaker_threshold = breaker_threshold
        self._breaker_cooldown = breaker_cooldown_s
        self._breakers: dict[str, CircuitBreaker] = {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._rng = rng or random.Random()
        self.max_body_bytes = max_body_bytes
        self.body_caps = dict(body_caps or {})
        self.seller = account.seller_id or account.name
        self.stats: dict[str, int] = {"requests": 0, "throttled": 0, "retries": 0, "errors": 0}
        self._rdt: dict[tuple[str, str, tuple[str, ...]], tuple[str, datetime]] = {}
        self._rdt_lock = asyncio.Lock()

    async def restricted_token(
        self, path: str, data_elements: Sequence[str] = (), method: str = "GET"
    ) -> str:
        """A Restricted Data Token for one resource, cached for its lifetime (minus 60 s).

        Raises Rejected (400) when the application lacks the restricted role.
        """
        key = (method, path, tuple(sorted(data_elements)))
        async with self._rdt_lock:
            hit = self._rdt.get(key)
            if hit is not None and self.clock() < hit[1]:
                return hit[0]
            res: dict[str, Any] = {"method": method, "path": path}
            if data_elements:
                res["dataElements"] = list(data_elements)
            rdt_path = "/tokens/2021-03-01/restrictedDataToken"
            body = {"restrictedResources": [res]}
            resp = await self.call("createRestrictedDataToken", "POST", rdt_path, json=body)
            token = str(resp.body["restrictedDataToken"])
            ttl = int(resp.body.get("expiresIn", 3600))
            self._rdt[key] = (token, self.clock() + timedelta(seconds=max(ttl - 60, 0)))
            self.stats["rdt"] = self.stats.get("rdt", 0) + 1
            return token

    def breaker(self, operation: str) -> CircuitBreaker:
        """The circuit breaker of one operation."""
        b = self._breakers.get(operation)
        if b is None:
            b = self._breakers[operation] = CircuitBreaker(
                self._breaker_threshold, self._breaker_cooldown
            )
        return b

    def url(self, path: str, params: Sequence[tuple[str, str]] = ()) -> URL:
        """Absolute URL with the query encoded exactly once (tokens may hold ``+/=%``)."""
        q = urlencode(list(params), quote_via=quote, safe="")
        return URL(self.base + path + (f"?{q}" if q else ""), encoded=True)

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json: Any = None,
        rdt: str | None = None,
    ) -> Response:
        """One SP-API operation with limits, retries and error mapping (see module doc)."""
        breaker = self.breaker(operation)
        refreshed = False
        attempt = 0
        url = self.url(path, params)
        data = orjson.dumps(json) if json is not None else None
        while True:
            breaker.before_call(operation)
            try:
                token = rdt if rdt is not None else await self.auth.token()
            except RetriableRemoteError as exc:
                # LWA itself is down or throttling: same retry budget, but not the operation's
                # fault, so its breaker and bucket are left alone.
                attempt = await self._retry_or_raise(operation, exc, attempt)
                continue
            await self.limits.acquire(self.seller, self.region, operation)
            headers = {
                "x-amz-access-token": token,
                "user-agent": USER_AGENT,
                "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            }
            if data is not None:
                headers["content-type"] = "application/json"
            self.stats["requests"] += 1
            try:
                return await self._send(operation, method, url, headers, data, breaker)
            except ResponseTooLarge:
                raise  # not worth an immediate retry: see the module doc
            except _ExpiredToken:
                if refreshed or rdt is not None:
                    raise AuthError(
                        f"amazon: {operation} refused a freshly refreshed token", system="amazon"
                    ) from None
                refreshed = True
                self.auth.invalidate(token)
            except RetriableRemoteError as exc:
                if isinstance(exc, RateLimited):
                    self.stats["throttled"] += 1
                    self.limits.throttled(self.seller, self.region, operation)
                else:
                    breaker.failure()
                attempt = await self._retry_or_raise(operation, exc, attempt)

    async def _retry_or_raise(self, operation: str, exc: RetriableRemoteError, attempt: int) -> int:
        """Sleep the backoff for the next try and return its number; re-raise when spent."""
        attempt += 1
        if attempt >= self.backoff.max_tries:
            self.stats["errors"] += 1
            raise exc
        self.stats["retries"] += 1
        delay = self.backoff.delay(attempt - 1, exc.retry_after, self._rng)
        kind = type(exc).__name__
        log.info(
            "amazon %s %s: %s; retry %d in %.2fs", self.region, operation, kind, attempt, delay
        )
        await asyncio.sleep(delay)
        return attempt

    async def _send(
        self,
        operation: str,
        method: str,
        url: URL,
        headers: dict[str, str],
        data: bytes | None,
        breaker: CircuitBreaker,
    ) -> Response:
        async with (
            map_http_errors("amazon"),
            # Never follow redirects: the access token must reach only the configured host.
            self.session.request(
                method,
                url,
                headers=headers,
                data=data,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp,
        ):
            status, rh = resp.status, resp.headers
            ok = 200 <= status < 300
            cap = self.body_caps.get(operation, self.max_body_bytes) if ok else ERROR_BODY_BYTES
            # An oversized error page is dropped: its status still says what happened.
            raw = await read_capped(resp, cap, what=operation, system="amazon", drop=not ok)
        body: Any
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            if ok:
                bad = f"amazon: {operation} returned a truncated/invalid JSON body"
                raise RemoteUnavailable(bad, status=status, system="amazon") from None
            body = None
        if ok or status in (400, 404):
            self.limits.observe_limit(
                self.seller, self.region, operation, rh.get("x-amzn-RateLimit-Limit")
            )
        if ok:
            breaker.success()
            return Response(status, body, dict(rh))
        code, msg = _error_text(body, status)
        if status == 403 and _stale_access_token(msg):
            raise _ExpiredToken
        err: RemoteError = error_for_status(
            status,
            f"{operation}: {code} {msg}".strip(),
            system="amazon",
            retry_after=parse_retry_after(rh),
        )
        err.code = code  # type: ignore[attr-defined]
        err.detail = msg  # type: ignore[attr-defined]
        raise err

    # ---------------------------------------------------------------- paging

    async def paginate(
        self,
        operation: str,
        path: str,
        params: Sequence[tuple[str, str]],
        style: PagingStyle,
        *,
        rdt: str | None = None,
    ) -> AsyncIterator[Any]:
        """Yield each page's body, following the style's next token until it is absent.

        An expired/invalid next token (400; FBA tokens live 30 s) restarts the listing from the
        first page, as Amazon asks: pages may repeat, so consumers must be idempotent per item.
        After ``PAGING_RESTARTS`` restarts it raises RemoteUnavailable (retry next cycle).
        """
        seen: set[str] = set()
        token: str | None = None
        restarts = 0
        while True:
            if token is None:
                q = list(params)
            elif style == "reports":
                q = [("nextToken", token)]  # must be the only parameter
            else:
                q = [*params, (_TOKEN_PARAM[style], token)]
            try:
                resp = await self.call(operation, "GET", path, params=q, rdt=rdt)
            except Rejected as exc:
                if token is None or not _paging_token_refused(exc):
                    raise
                restarts += 1
                if restarts > PAGING_RESTARTS:
                    raise RemoteUnavailable(
                        f"amazon: {operation} paging token expired {restarts} times",
                        system="amazon",
                    ) from exc
                log.info("amazon %s %s: next token expired; restarting", self.region, operation)
                token = None
                seen.clear()
                continue
            yield resp.body
            token = next_token(resp.body, style)
            if token is None:
                return
            if token in seen:
                raise ParseError(f"amazon: {operation} paging loop (token repeated)")
            seen.add(token)


def _paging_token_refused(exc: Rejected) -> bool:
    """400: the next token expired, is invalid or undecodable (v0 [C models#2382])."""
    text = f"{exc} {getattr(exc, 'detail', '')}".lower()
    refused = ("expired", "invalid", "not valid", "decode")
    return exc.status == 400 and "token" in text and any(w in text for w in refused)


class _ExpiredToken(Exception):
    """Internal: 403 saying our access token expired or is unknown (revoked, or the service
    forgot it across a restart): worth exactly one retry with a freshly refreshed token."""


def _stale_access_token(msg: str) -> bool:
    text = msg.lower()
    return "expired" in text or ("access token" in text and "revoked" in text)


_TOKEN_PARAM: dict[str, str] = {
    "v0": "NextToken",
    "finances": "NextToken",
    "v2026": "paginationToken",
    "reports": "nextToken",
    "fba": "nextToken",
    "listings": "pageToken",
}


def next_token(body: Any, style: PagingStyle) -> str | None:
    """Extract the next-page token of a response body per paging style (None when done)."""
    if not isinstance(body, dict):
        return None
    tok: Any
    if style in ("v0", "finances"):
        payload = body.get("payload")
        tok = payload.get("NextToken") if isinstance(payload, dict) else None
    elif style == "reports":
        tok = body.get("nextToken")
    else:  # v2026, fba, listings: pagination.nextToken
        pag = body.get("pagination")
        tok = pag.get("nextToken") if isinstance(pag, dict) else None
    return tok if isinstance(tok, str) and tok else None
