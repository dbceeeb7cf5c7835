"""Sessions, the access token and CSRF for the status page.

- Every browser gets a session cookie (``mlc_session``: random id, HttpOnly, SameSite=Strict,
  Path=/) on its first request; the session holds its own CSRF token and whether it logged in.
- With an access token configured (always for a non-loopback bind), every request except
  ``/login``, ``/healthz`` and ``/metrics`` must carry it: ``Authorization: Bearer <token>`` or a
  session that logged in through the form. Compared with ``hmac.compare_digest``.
- Every POST must carry the session's CSRF token in the form field ``csrf`` (checked server side,
  constant time), and an ``Origin`` header, when the browser sends one, must be this host.

Sessions live in memory: a restart logs everyone out, which is fine for an operator page.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = [
    "COOKIE",
    "PUBLIC_PATHS",
    "SESSIONS",
    "SESSION_KEY",
    "Session",
    "Sessions",
    "auth_middleware",
    "check_csrf",
    "session_of",
]

COOKIE = "mlc_session"
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/metrics"})
MACHINE_PATHS = frozenset({"/healthz", "/metrics"})
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Session:
    sid: str
    csrf: str
    created: float
    authed: bool = False
    flash: list[str] = field(default_factory=list)


SESSION_KEY = web.RequestKey("session", Session)


class Sessions:
    """Bounded in-memory session store (oldest evicted first; expired after 12 h)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def new(self) -> Session:
        while len(self._by_id) >= MAX_SESSIONS:
            # Anonymous sessions go first: a flood of unauthenticated requests must not log
            # the operator out.
            anonymous = next((k for k, v in self._by_id.items() if not v.authed), None)
            if anonymous is None:
                self._by_id.popitem(last=False)
            else:
                del self._by_id[anonymous]
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.monotonic())
        self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        s = self._by_id.get(sid or "")
        if s is None:
            return None
        if time.monotonic() - s.created > SESSION_TTL_S:
            del self._by_id[s.sid]
            return None
        return s

    def login(self, old: Session) -> Session:
        """A fresh id (and CSRF token) on login: a planted session id gains nothing."""
        self._by_id.pop(old.sid, None)
        s = self.new()
        s.authed = True
        return s

    def logout(self, s: Session) -> None:
        self._by_id.pop(s.sid, None)

    def token_ok(self, offered: str) -> bool:
        if self.token is None:
            return True
        return hmac.compare_digest(offered.encode(), self.token.encode())


SESSIONS = web.AppKey("sessions", Sessions)


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, cred = value.partition(" ")
    return cred.strip() if scheme.lower() == "bearer" and cred.strip() else None


def set_cookie(response: web.StreamResponse, s: Session) -> None:
    response.set_cookie(COOKIE, s.sid, httponly=True, samesite="Strict", path="/")


def session_of(request: web.Request) -> Session:
    return request[SESSION_KEY]


def auth_middleware(sessions: Sessions) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in MACHINE_PATHS:
            return await handler(request)  # scrapers and healthchecks get no session
        s = sessions.get(request.cookies.get(COOKIE))
        fresh = s is None
        if s is None:
            s = sessions.new()
        request[SESSION_KEY] = s
        if sessions.token is not None and request.path not in PUBLIC_PATHS and not s.authed:
            bearer = _bearer(request)
            if bearer is None:
                if request.method == "GET":
                    resp = web.Response(status=303, headers={"Location": "/login"})
                else:
                    resp = web.Response(status=401, text="login required\n")
                set_cookie(resp, s)
                return resp
            if not sessions.token_ok(bearer):
                return web.Response(status=401, text="wrong access token\n")
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if fresh or request[SESSION_KEY] is not s:
                set_cookie(exc, request[SESSION_KEY])
            raise
        current = request[SESSION_KEY]  # login replaces the session
        if fresh or current is not s:
            set_cookie(response, current)
        return response

    return middleware


def check_csrf(request: web.Request, form_token: str) -> None:
    """Refuse (403) a POST without this session's CSRF token or from another origin."""
    s = session_of(request)
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text="cross-origin request refused\n")
    if not form_token or not hmac.compare_digest(form_token.encode(), s.csrf.encode()):
        raise web.HTTPForbidden(text="missing or wrong CSRF token (reload the page)\n")
