"""Who is calling: OAuth password/refresh grants, bearer tokens, Basic auth, securityControl.

Shapes [C] (public token managers and loaders): ``POST oauth/token`` form-encoded (or query
string) ``client_id, grant_type=password|refresh_token, username, password|refresh_token`` ->
``{access_token, refresh_token, token_type, expires_in, scope}``; ``GET
api/qracore/securityControl`` with Basic auth -> ``data.securityControls[0].clientId`` plus
``sessionLength`` and ``timeoutMinutes``. Error bodies of the token endpoint follow OAuth2
(``{"error": "invalid_grant", ...}``) [I].
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from engine.sim.qad.store import DOMAIN, Store
from engine.sim.qad.wire import errors, json_response

__all__ = [
    "CLIENT_ID",
    "DEMO_PASSWORD",
    "DEMO_USER",
    "NOACCESS_USER",
    "USERS",
    "Tenant",
    "security_control",
    "token",
    "user_of",
]

DEMO_USER = "mfg@qad.com"
DEMO_PASSWORD = "qad-sim"  # noqa: S105 - a published demo credential of a local simulator
NOACCESS_USER = "noaccess@qad.com"
CLIENT_ID = "sim-client"
USERS: dict[str, tuple[str, ...]] = {DEMO_USER: (DOMAIN,), NOACCESS_USER: ()}


@dataclass(slots=True)
class Tenant:
    name: str
    store: Store
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # access -> user, expiry
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> user


def _issue(tenant: Tenant, user: str, now: float, ttl_s: float) -> web.Response:
    access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    tenant.tokens[access] = (user, now + ttl_s)
    tenant.refresh[refresh] = user
    return json_response(
        {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": int(ttl_s),
            "scope": "read write",
        }
    )


async def token(
    tenant: Tenant,
    request: web.Request,
    *,
    now: float,
    ttl_s: float,
    stats: dict[str, int],
) -> web.Response:
    """``POST oauth/token``: the password and refresh-token grants."""
    form: Mapping[str, str] = dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        form = {**form, **{k: str(v) for k, v in (await request.post()).items()}}
    if form.get("client_id") != CLIENT_ID:
        return json_response(
            {"error": "invalid_client", "error_description": "Unknown client"}, 401
        )
    grant = form.get("grant_type")
    if grant == "password":
        user = form.get("username", "")
        if user not in USERS or not secrets.compare_digest(form.get("password", ""), DEMO_PASSWORD):
            return json_response(
                {"error": "invalid_grant", "error_description": "Bad credentials"}, 401
            )
        stats["password_grants"] += 1
        return _issue(tenant, user, now, ttl_s)
    if grant == "refresh_token":
        found = tenant.refresh.pop(form.get("refresh_token", ""), None)
        if found is None:
            return json_response(
                {"error": "invalid_grant", "error_description": "Invalid refresh token"}, 401
            )
        stats["refresh_grants"] += 1
        return _issue(tenant, found, now, ttl_s)
    return json_response({"error": "unsupported_grant_type"}, 400)


def _basic_user(header: str) -> str | None:
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, pw = raw.partition(":")
    if user in USERS and secrets.compare_digest(pw, DEMO_PASSWORD):
        return user
    return None


def user_of(tenant: Tenant, request: web.Request, now: Callable[[], float]) -> str | None:
    """The authenticated user (Bearer token or Basic), None when unknown or expired."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        return _basic_user(header)
    if header.startswith("Bearer "):
        access = header[7:].strip()
        found = tenant.tokens.get(access)
        if found is None:
            return None
        user, expiry = found
        if now() >= expiry:
            tenant.tokens.pop(access, None)
            return None
        return user
    return None


def security_control(request: web.Request) -> web.Response:
    """``GET api/qracore/securityControl``: the OAuth client id; Basic auth only [C]."""
    if not request.headers.get("Authorization", "").startswith("Basic "):
        return errors(401, "Basic authentication required")
    control = {"clientId": CLIENT_ID, "sessionLength": 480, "timeoutMinutes": 60}
    return json_response({"data": {"securityControls": [control]}})
