"""``[web]``: the status page (engine/web), off unless ``bind`` is set.

Own module so the bind rule lives beside its section (model.py only adds it to ``Config``).
A bind other than loopback needs an access token from the vault (``token_secret``); that is
checked when the page starts (the vault is not read while loading the config).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from engine.config.checks import checked, nonempty
from engine.errors import ConfigError

__all__ = ["DEFAULT_BIND", "WebConfig", "is_loopback", "parse_bind"]

DEFAULT_BIND = "127.0.0.1:8700"
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


def parse_bind(text: str) -> tuple[str, int]:
    """``host:port`` (IPv6 as ``[::1]:8700``) -> (host, port); ConfigError when malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"bind {text!r} must be host:port, e.g. {DEFAULT_BIND}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(f"bind {text!r}: port must be 1..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"bind {text!r}: {host!r} is no IPv6 address") from None
    elif not _HOSTNAME.match(host):
        raise ConfigError(f"bind {text!r}: {host!r} is no host name or address")
    return host, port


def is_loopback(host: str) -> bool:
    """Only 127.0.0.0/8, ::1 and ``localhost`` count; 0.0.0.0 / :: listen everywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name could resolve to anything


def _bind(value: Any, where: str) -> None:
    if value == "":
        return  # off
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string host:port, got {value!r}")
    try:
        parse_bind(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class WebConfig:
    """``[web]``: where the status page listens (served by ``run``; ``serve`` alone)."""

    # "" = no page; "127.0.0.1:8700" = loopback only (no token needed). Any other address
    # (0.0.0.0, a LAN IP, a host name) requires the vault secret `token_secret`.
    bind: str = checked("", _bind)
    # Vault secret holding the access token (`ml-connector serve --new-token` stores one).
    token_secret: str = checked("web", nonempty("a vault secret name, e.g. web"))
