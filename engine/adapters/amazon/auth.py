"""Login with Amazon (LWA): refresh token -> access token, cached until shortly before expiry.

One ``LwaAuth`` per (seller, region): a refresh token is only valid in the region it was issued
for. Concurrent callers share one refresh (single flight under a lock). Token values never reach
logs or exception messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from engine.adapters.http import error_for_status, map_http_errors, read_capped
from engine.errors import AuthError, CredentialError, RemoteError

__all__ = ["AmazonAccount", "LwaAuth", "utc_now"]

log = logging.getLogger(__name__)
LWA_BODY_CAP = 64 * 1024  # bytes of a token answer we read at most


def utc_now() -> datetime:
    """The real UTC time (the default clock; tests against the simulator pass its clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class AmazonAccount:
    """What the client needs to act for one seller (later read from the vault).

    ``refresh_tokens`` maps region ("NA"/"EU"/"FE") to that region's ``Atzr|`` token.
    """

    client_id: str
    client_secret: str = field(repr=False)
    refresh_tokens: Mapping[str, str] = field(repr=False)
    seller_id: str = ""
    next_client_secret: str | None = field(default=None, repr=False)
    name: str = "default"

    def refresh_token(self, region: str) -> str:
        """The refresh token for ``region``; CredentialError if the seller has none there."""
        try:
            return self.refresh_tokens[region]
        except KeyError:
            raise CredentialError(
                f"amazon account {self.name!r} has no refresh token for region {region}"
            ) from None

    @classmethod
    def from_credential(cls, cred: Any) -> AmazonAccount:
        """Build from ``engine.security.vault.AmazonCredential`` (duck-typed)."""
        return cls(
            client_id=cred.client_id,
            client_secret=cred.client_secret,
            refresh_tokens=dict(cred.refresh_tokens),
            seller_id=getattr(cred, "seller_id", ""),
            next_client_secret=getattr(cred, "next_client_secret", None),
            name=getattr(cred, "name", "default"),
        )


class LwaAuth:
    """Access-token cache for one (account, region).

    Args:
        session: the engine's shared aiohttp session.
        account: client id/secret and refresh tokens.
        region: which refresh token to use.
        lwa_url: token endpoint.
        clock: aware-UTC "now" (the simulator's clock in tests).
        skew: refresh this long before the announced expiry (Amazon's SDK uses 60 s).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account: AmazonAccount,
        region: str,
        *,
        lwa_url: str = "https://api.amazon.com/auth/o2/token",
        clock: Callable[[], datetime] = utc_now,
        skew: timedelta = timedelta(seconds=60),
        timeout_s: float = 30.0,
    ) -> None:
        self._session = session
        self._account = account
        self._region = region
        self._lwa_url = lwa_url
        self._clock = clock
        self._skew = skew
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._token: str | None = None
        self._expires: datetime | None = None
        self._lock = asyncio.Lock()
        self._secret = account.client_secret
        self.refreshes = 0  # how many token exchanges happened (tests, status)

    def _fresh(self) -> bool:
        return (
            self._token is not None
            and self._expires is not None
            and self._clock() < self._expires - self._skew
        )

    async def token(self) -> str:
        """A valid access token, refreshed (once, shared by all waiters) when near expiry."""
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._fresh():  # another waiter may have refreshed meanwhile
                await self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str | None = None) -> None:
        """Drop the cached token (after a 403 "expired"); only if it is still ``token``."""
        if token is None or token == self._token:
            self._token = None
            self._expires = None

    async def _refresh(self) -> None:
        refresh_token = self._account.refresh_token(self._region)
        try:
            await self._exchange(refresh_token, self._secret)
        except AuthError as exc:
            nxt = self._account.next_client_secret
            # LWA secret rotation: retry once with the next secret and keep it if it works.
            if getattr(exc, "lwa_error", "") == "invalid_client" and nxt and nxt != self._secret:
                await self._exchange(refresh_token, nxt)
                self._secret = nxt
                log.warning("amazon LWA: switched to the next client secret (rotation)")
            else:
                raise

    async def _exchange(self, refresh_token: str, secret: str) -> None:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self._account.client_id,
            "client_secret": secret,
        }
        async with (
            map_http_errors("lwa"),
            self._session.post(
                self._lwa_url, data=form, timeout=self._timeout, allow_redirects=False
            ) as resp,
        ):
            # A token answer is a few hundred bytes; a hostile or broken endpoint must not make
            # us hold more (an error page is dropped: its status decides).
            raw = await read_capped(
                resp, LWA_BODY_CAP, what="token", system="lwa", drop=resp.status != 200
            )
            try:
                body = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                body = {}
            if resp.status != 200:
                code = str(body.get("error", "")) if isinstance(body, dict) else ""
                if code in ("invalid_grant", "invalid_client", "unauthorized_client") or (
                    resp.status in (400, 401) and code not in ("server_error",)
                ):
                    err: RemoteError = AuthError(
                        f"lwa: token exchange refused ({code or resp.status}) for region "
                        f"{self._region}; re-authorise the seller if this persists",
                        status=resp.status,
                        system="lwa",
                    )
                    err.lwa_error = code  # type: ignore[attr-defined]
                    raise err
                raise error_for_status(resp.status, code or "token exchange failed", system="lwa")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("lwa: response without access_token", system="lwa")
        expires_in = _expires_in(body.get("expires_in"))
        self._token = token
        self._expires = self._clock() + timedelta(seconds=expires_in)
        self.refreshes += 1
        log.info("amazon LWA: access token refreshed for region %s", self._region)


def _expires_in(value: Any) -> int:
    """LWA's ``expires_in`` (3600), clamped to (0, 1 h]: a bad value never caches a token longer."""
    try:
        seconds = int(value) if value is not None else 3600
    except (TypeError, ValueError):
        return 3600
    return min(max(seconds, 1), 3600)
