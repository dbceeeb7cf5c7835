"""``[alerts]``: a notice when a flow turns Failing or a record is parked (engine/ops/alerts.py).

Own module so the keys and their cross-checks stay together (model.py only adds the section to
``Config``; loading.py calls ``check_alerts``). Off unless ``webhook_url``/``webhook_secret`` or
``smtp_host`` is set. Secrets never live here: an SMTP password and a webhook URL that carries a
token are vault secrets named by ``smtp_password_secret`` / ``webhook_secret``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.config.checks import checked, one_of, ranged
from engine.config.urls import is_loopback_host
from engine.errors import ConfigError

__all__ = ["AlertsConfig", "check_alerts"]

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")  # one bare address, no display name


def _webhook(value: Any, where: str) -> None:
    if value == "":
        return
    text = str(value)
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise ConfigError(f"{where} must not contain whitespace or control characters")
    try:
        u = urlsplit(text)
        host = u.hostname or ""
        userinfo = u.username is not None or u.password is not None
    except ValueError:
        raise ConfigError(f"{where} is not a URL") from None
    if not (u.scheme == "https" or (u.scheme == "http" and is_loopback_host(host))):
        raise ConfigError(f"{where} must be https (http only to 127.0.0.1/localhost)")
    if not host or userinfo or u.fragment:
        raise ConfigError(f"{where} must have a host and no user:password@ or #fragment")


def _address(value: Any, where: str) -> None:
    if value != "" and not _ADDRESS.match(str(value)):
        raise ConfigError(f"{where} must be one e-mail address like ops@example.com")


def _addresses(value: Any, where: str) -> None:
    for item in value:
        _address(item, where)


def _host(value: Any, where: str) -> None:
    if value != "" and not re.match(r"^[A-Za-z0-9.:\[\]-]{1,253}$", str(value)):
        raise ConfigError(f"{where} must be a host name or address, got {value!r}")


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """``[alerts]``: where notices go, and how often at most."""

    # Generic webhook: a JSON POST per notice. https, or http to loopback. A URL that carries
    # a token (Slack, Teams) belongs in the vault instead: name that secret in webhook_secret.
    webhook_url: str = checked("", _webhook)
    webhook_secret: str = ""
    # E-mail over SMTP ("" = no mail). security: "starttls" (port 587), "tls" (465) or "none"
    # (a local relay on port 25; refused with a login to a host other than loopback).
    smtp_host: str = checked("", _host)
    smtp_port: int = ranged(587, 1, 65535)
    smtp_security: str = checked("starttls", one_of("starttls", "tls", "none"))
    smtp_user: str = ""  # "" = no SMTP login; else the password is the vault secret below
    smtp_password_secret: str = "smtp"  # noqa: S105 (the vault secret's name, not a password)
    smtp_timeout_s: float = ranged(30.0, 0, 600, lo_open=True)
    mail_from: str = checked("", _address)
    mail_to: tuple[str, ...] = checked((), _addresses)
    # At most one notice per channel per this many seconds; what happens in between is sent
    # together with the next one (nothing is dropped, only batched).
    min_interval_s: float = ranged(900.0, 0, 86400)
    # How often `run` looks at the flow states and the parked list.
    check_every_s: float = ranged(30.0, 1, 3600)

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or self.webhook_secret or self.smtp_host)


def check_alerts(cfg: AlertsConfig, source: str) -> None:
    """Cross-key rules (a half-configured channel would fail only when the first alarm fires)."""
    if cfg.webhook_url and cfg.webhook_secret:
        raise ConfigError(f"{source}: set alerts.webhook_url or alerts.webhook_secret, not both")
    if not cfg.smtp_host:
        return
    if not cfg.mail_from or not cfg.mail_to:
        raise ConfigError(f"{source}: alerts.smtp_host needs alerts.mail_from and alerts.mail_to")
    if cfg.smtp_user and cfg.smtp_security == "none" and not is_loopback_host(cfg.smtp_host):
        raise ConfigError(
            f'{source}: alerts.smtp_user with smtp_security = "none" would send the password '
            f'in clear to {cfg.smtp_host}: use "starttls" or "tls"'
        )
    if cfg.smtp_user and not cfg.smtp_password_secret:
        raise ConfigError(f"{source}: alerts.smtp_user needs alerts.smtp_password_secret")
