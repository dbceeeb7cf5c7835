"""HTTP to one QAD tenant: login + token cache, Decimal-exact JSON, error mapping.

The single place where aiohttp/asyncio failures and QAD envelopes become engine errors:
- a write whose answer never arrived (timeout, dropped connection, 500/502/504) is UnknownOutcome;
- 401 triggers one token refresh and one retry; 403 is never retried (AuthError);
- HTTP 200 with ``submitResult.success=false`` is QadBusinessError (a Rejected).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from engine.adapters.http import error_for_status, parse_retry_after
from engine.errors import (
    AuthError,
    ConfigError,
    Rejected,
    RemoteError,
    RemoteTimeout,
    RemoteUnavailable,
    UnknownOutcome,
)
from engine.observe import NULL_OBSERVER, Observer, RemoteCall, outcome_of

from .settings import QadSettings

__all__ = ["SYSTEM", "Params", "QadBusinessError", "Transport", "dumps", "loads"]

log = logging.getLogger(__name__)
SYSTEM = "qad"
DUPLICATE_CODE = "2041"  # "Sales order <nbr> already exists" (public loader)
Params = Sequence[tuple[str, str]] | Mapping[str, str]


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise TypeError("non-finite Decimal")
        return orjson.Fragment(str(obj))  # the exact digits, never via float
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(body: Any) -> bytes:
    return orjson.dumps(body, default=_default)


def loads(data: bytes) -> Any:
    return json.loads(data, parse_float=Decimal)


class QadBusinessError(Rejected):
    """HTTP 200 with ``submitResult.success=false``; ``errors`` holds QAD's error rows."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        text = (
            "; ".join(f"{e.get('fieldName') or '-'}: {e.get('message', '')}" for e in errors)
            or "business error without detail"
        )
        super().__init__(f"qad rejected: {text}", status=200, system=SYSTEM)
        self.errors = errors

    @property
    def already_exists(self) -> bool:
        """QAD's duplicate answer: code 2041 (duplicate sales order header) or the text."""
        return any(
            str(e.get("code") or "") == DUPLICATE_CODE
            or "already exist" in str(e.get("message", "")).lower()
            for e in self.errors
        )


def _basic(user: str, password: str) -> str:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {raw}"


@dataclass(slots=True)
class _Token:
    access: str
    refresh: str
    expires_at: float  # loop time


def _error_text(body: bytes) -> str:
    try:
        doc = loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(doc, dict):
        if isinstance(doc.get("errors"), list) and doc["errors"]:
            return "; ".join(
                str(e.get("message", "")) for e in doc["errors"] if isinstance(e, dict)
            )
        if "error" in doc:
            return f"{doc.get('error')}: {doc.get('error_description', '')}"
    return ""


class Transport:
    """Authenticated JSON requests relative to the tenant URL."""

    def __init__(self, session: aiohttp.ClientSession, settings: QadSettings, base: str) -> None:
        self.session = session
        self.settings = settings
        self.base = base
        self.client_id = settings.client_id
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.logins = 0
        self.refreshes = 0
        self.observer: Observer = NULL_OBSERVER  # metrics: every HTTP exchange (engine.observe)
        paths = dataclasses.asdict(settings.paths)
        self._path_keys = sorted(  # longest first: the most specific [qad.paths] key wins
            ((k, p) for k, p in paths.items() if isinstance(p, str) and p and p[:4] != "urn:"),
            key=lambda kp: -len(kp[1]),
        )

    def url(self, rel: str) -> str:
        return f"{self.base}/{rel}"

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # -- auth -----------------------------------------------------------------------------------

    async def _raw(
        self,
        method: str,
        rel: str,
        *,
        params: Params | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        write: bool = False,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        started = time.monotonic()
        try:
            answer = await self._exchange(method, rel, params, data, headers, write)
        except Exception as exc:
            self._observe(method, rel, outcome_of(getattr(exc, "status", None), exc), started)
            raise
        self._observe(method, rel, outcome_of(answer[0], None), started)
        return answer

    def _observe(self, method: str, rel: str, outcome: str, started: float) -> None:
        # Labelled by the [qad.paths] key, never by rel itself (it may carry a document id).
        operation = next((k for k, p in self._path_keys if rel == p or rel.startswith(p + "/")), "")
        self.observer.remote_call(
            RemoteCall("qad", operation or "other", "", method, outcome, time.monotonic() - started)
        )

    async def _exchange(
        self,
        method: str,
        rel: str,
        params: Params | None,
        data: Any,
        headers: Mapping[str, str] | None,
        write: bool,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                async with self.session.request(
                    method,
                    self.url(rel),
                    params=params,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                ) as resp:
                    return resp.status, await resp.read(), resp.headers
        except TimeoutError as exc:
            if write:
                raise UnknownOutcome(
                    f"qad {method} {rel}: no answer in time", system=SYSTEM
                ) from exc
            raise RemoteTimeout(f"qad {method} {rel}: no answer in time", system=SYSTEM) from exc
        except aiohttp.ClientConnectorError as exc:  # nothing was sent
            raise RemoteUnavailable(f"qad {method} {rel}: cannot connect", system=SYSTEM) from exc
        except aiohttp.ClientError as exc:
            if write:
                raise UnknownOutcome(
                    f"qad {method} {rel}: connection lost ({type(exc).__name__})", system=SYSTEM
                ) from exc
            raise RemoteUnavailable(
                f"qad {method} {rel}: connection lost ({type(exc).__name__})", system=SYSTEM
            ) from exc

    def _not_found(self, key: str, path: str) -> ConfigError:
        # Usually a wrong host or context root; on a tenant that names it differently, the path.
        return ConfigError(
            f"qad.tenant_url {self.base!r}: {self.url(path)} not found (HTTP 404); check the "
            f"host and context root (e.g. /clouderp), or set qad.paths.{key} (now {path!r}) to "
            "the tenant's path"
        )

    async def _fetch_client_id(self) -> str:
        status, body, _ = await self._raw(
            "GET",
            self.settings.paths.security_control,
            headers={
                "Accept": "application/json",
                "Authorization": _basic(self.settings.username, self.settings.password),
            },
        )
        if status == 404:
            raise self._not_found("security_control", self.settings.paths.security_control)
        if status in (401, 403):
            raise AuthError(
                f"qad securityControl refused the login (HTTP {status})",
                status=status,
                system=SYSTEM,
            )
        if status != 200:
            raise error_for_status(status, _error_text(body), system=SYSTEM)
        try:
            return str(loads(body)["data"]["securityControls"][0]["clientId"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise RemoteUnavailable(
                "qad securityControl answer has no clientId", system=SYSTEM
            ) from None

    async def _grant(self, form: dict[str, str]) -> _Token:
        status, body, headers = await self._raw(
            "POST",
            self.settings.paths.token_endpoint,
            data=form,
            headers={"Accept": "application/json"},
        )
        if status == 404:
            raise self._not_found("token_endpoint", self.settings.paths.token_endpoint)
        if status in (400, 401, 403):
            raise AuthError(
                f"qad login failed (HTTP {status}): {_error_text(body)}",
                status=status,
                system=SYSTEM,
            )
        if status != 200:
            raise error_for_status(
                status, _error_text(body), system=SYSTEM, retry_after=parse_retry_after(headers)
            )
        try:
            doc = loads(body)
            ttl = float(doc.get("expires_in") or 3600)
            return _Token(
                str(doc["access_token"]), str(doc.get("refresh_token") or ""), self._now() + ttl
            )
        except (ValueError, KeyError, TypeError):
            raise RemoteUnavailable("qad token answer is not valid", system=SYSTEM) from None

    async def _login(self) -> _Token:
        if not self.client_id:
            self.client_id = await self._fetch_client_id()
        self.logins += 1
        return await self._grant(
            {
                "client_id": self.client_id,
                "grant_type": "password",
                "username": self.settings.username,
                "password": self.settings.password,
            }
        )

    async def token(self, *, force: bool = False, stale: str | None = None) -> str:
        """A valid access token; refreshed ``token_refresh_margin_s`` before expiry."""
        async with self._lock:
            tok = self._token
            if tok is not None and stale is not None and tok.access != stale:
                return tok.access  # another request already refreshed it
            fresh = (
                tok is not None
                and self._now() < tok.expires_at - self.settings.token_refresh_margin_s
            )
            if fresh and not force and tok is not None:
                return tok.access
            new: _Token | None = None
            if tok is not None and tok.refresh:
                try:
                    self.refreshes += 1
                    new = await self._grant(
                        {
                            "client_id": self.client_id,
                            "grant_type": "refresh_token",
                            "refresh_token": tok.refresh,
                        }
                    )
                except AuthError:
                    new = None  # refresh token expired/unknown: fall back to the password grant
            self._token = new or await self._login()
            return self._token.access

    # -- requests -------------------------------------------------------------------------------

    def _headers(self, access: str, has_body: bool) -> dict[str, str]:
        h = {
            "Authorization": f"Bearer {access}",
            "Accept": "application/json",
            "x-qad-workspace-id": f"{self.settings.domain}_{self.settings.entity}",
        }
        if has_body:
            h["Content-Type"] = "application/json"
        return h

    async def send(
        self,
        method: str,
        rel: str,
        *,
        params: Params | None = None,
        body: Any = None,
        write: bool = False,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """Authenticated request; one refresh + retry on 401; raw status/body returned."""
        data = dumps(body) if body is not None else None

        async def attempt(access: str) -> tuple[int, bytes, Mapping[str, str]]:
            headers = self._headers(access, data is not None)
            return await self._raw(
                method, rel, params=params, data=data, headers=headers, write=write
            )

        access = await self.token()
        status, raw, headers = await attempt(access)
        if status == 401:
            log.info("qad answered 401 on %s %s; refreshing the token once", method, rel)
            status, raw, headers = await attempt(await self.token(force=True, stale=access))
        if status in (401, 403):
            raise AuthError(
                f"qad {method} {rel}: HTTP {status} {_error_text(raw)}".strip(),
                status=status,
                system=SYSTEM,
            )
        return status, raw, headers

    async def json(
        self,
        method: str,
        rel: str,
        *,
        params: Params | None = None,
        body: Any = None,
        write: bool = False,
    ) -> Any:
        """Like ``send`` but maps non-2xx to engine errors and parses the JSON body."""
        status, raw, headers = await self.send(method, rel, params=params, body=body, write=write)
        if write and status in (500, 502, 504):
            raise UnknownOutcome(
                f"qad {method} {rel}: HTTP {status}; the write may have been applied",
                status=status,
                system=SYSTEM,
            )
        if status >= 300:
            err: RemoteError = error_for_status(
                status, _error_text(raw), system=SYSTEM, retry_after=parse_retry_after(headers)
            )
            raise err
        try:
            doc = loads(raw)
        except ValueError:
            if write:
                raise UnknownOutcome(
                    f"qad {method} {rel}: unreadable answer", system=SYSTEM
                ) from None
            raise RemoteUnavailable(
                f"qad {method} {rel}: body is not JSON", system=SYSTEM
            ) from None
        if isinstance(doc, dict):
            result = doc.get("submitResult")
            if isinstance(result, dict) and result.get("success") is False:
                errors = [e for e in result.get("errors") or [] if isinstance(e, dict)]
                raise QadBusinessError(errors)
        return doc
