"""URL rules for everything that receives credentials (pure functions, ConfigError on failure).

Why: the QAD tenant URL receives the password and bearer tokens, the Amazon LWA URL the refresh
token and client secret, the SP-API endpoint the access token. So each must be https (plain http
only on loopback, for the simulators), carry no userinfo to leak into logs, and no
query/fragment that could redirect path joins. Entity paths come from config and are appended to
the tenant URL; a traversal (``..``, encoded or not) or a foreign host (``//evil``, ``https:``)
would send our credentials elsewhere.

These live in the config layer (the lowest one besides errors) so ``load_config`` can refuse a
bad URL at start-up; ``engine.security.urls`` re-exports them for the layers above.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

from engine.errors import ConfigError

__all__ = [
    "REGION_PLACEHOLDER",
    "is_loopback_host",
    "validate_endpoint_template",
    "validate_entity_path",
    "validate_service_url",
    "validate_tenant_url",
]

# `[amazon] endpoint` may name each region's host with this; the engine fills in na/eu/fe.
REGION_PLACEHOLDER = "{region}"

_LOOPBACK_NAMES = {"localhost"}
# After percent-decoding (repeatedly), these must not appear in an entity path.
_PATH_OK = re.compile(r"^[A-Za-z0-9._~\-/:@!$&'()*+,;=%]+$")


def is_loopback_host(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_tenant_url(url: str, *, what: str = "qad.tenant_url") -> str:
    """Return ``url`` normalised (no trailing slash) or raise ConfigError naming the problem."""
    return validate_service_url(
        url,
        what=what,
        example="https://acme.qad.com/clouderp",
        login="store the login with `ml-connector creds set qad`",
        empty_hint="set the full tenant URL",
    )


def validate_service_url(
    url: str, *, what: str, example: str, login: str, empty_hint: str = "set the URL"
) -> str:
    """The tenant-URL rules for any URL that receives credentials; ``what`` names it in errors,
    ``login`` says where the credentials belong instead of ``user:password@``."""
    text = url.strip()
    if not text:
        raise ConfigError(f"{what} is empty: {empty_hint}, e.g. {example}")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise ConfigError(f"{what} contains whitespace or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{what} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ConfigError(
            f"{what} must start with https:// (got scheme {parts.scheme or 'none'!r})"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigError(f"{what} must not contain user:password@; {login}")
    host = parts.hostname or ""
    if not host:
        raise ConfigError(f"{what} has no host name")
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"{what} must use https:// (plain http is allowed only for 127.0.0.1/localhost)"
        )
    if parts.query or text.endswith("?"):
        raise ConfigError(f"{what} must not contain a query string (?...)")
    if parts.fragment or "#" in text:
        raise ConfigError(f"{what} must not contain a fragment (#...)")
    path = parts.path.rstrip("/")
    if path:
        _check_segments(path.lstrip("/"), what=what)
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc.lower()}{path}"


def validate_endpoint_template(url: str, *, what: str, example: str, login: str) -> str:
    """``url`` with at most the literal ``{region}`` placeholder, checked as it will be called.

    Returned unchanged: the engine fills in the region (``na``/``eu``/``fe``) per client, and
    the value must round-trip through ``to_toml``.
    """
    filled = url.replace(REGION_PLACEHOLDER, "na")
    if "{" in filled or "}" in filled:
        raise ConfigError(f"{what} may contain only the {REGION_PLACEHOLDER} placeholder")
    validate_service_url(filled, what=what, example=example, login=login)
    return url


def validate_entity_path(path: str, *, what: str = "entity path") -> str:
    """Return a safe relative path (to be joined as ``base + '/' + path``) or raise ConfigError."""
    text = path
    if not text:
        raise ConfigError(f"{what} is empty")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ConfigError(f"{what} {text!r} must not contain whitespace or control characters")
    if text.startswith(("/", "\\")):
        raise ConfigError(f"{what} {text!r} must be relative to the tenant URL (no leading '/')")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", text):
        raise ConfigError(f"{what} {text!r} must not name a scheme or host")
    if "?" in text or "#" in text:
        raise ConfigError(f"{what} {text!r} must not contain '?' or '#'")
    _check_segments(text, what=what)
    return text.rstrip("/")


def _check_segments(path: str, *, what: str) -> None:
    decoded = path
    # Decode repeatedly so %252e%252e (double-encoded '..') is caught too.
    for _ in range(4):
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
    if not _PATH_OK.match(path) or any(ord(c) < 0x21 or ord(c) == 0x7F for c in decoded):
        raise ConfigError(f"{what} {path!r} contains characters not allowed in a path")
    if "\\" in decoded:
        raise ConfigError(f"{what} {path!r} must not contain backslashes")
    if decoded != path and re.search(r"%(2[eEfF]|5[cC])", path.replace("%25", "%")):
        raise ConfigError(f"{what} {path!r} must not percent-encode '.', '/' or '\\'")
    for seg in decoded.split("/"):
        if seg in (".", ".."):
            raise ConfigError(f"{what} {path!r} must not contain '.' or '..' segments")
    if "" in decoded.rstrip("/").split("/"):
        raise ConfigError(f"{what} {path!r} must not contain empty segments ('//')")
