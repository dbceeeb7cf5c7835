"""``[engine] db``: an SQLite file (the default) or, in preview, a PostgreSQL URL.

Issue 20 moves the engine to PostgreSQL step by step: the log, the outbox, projection state, PII
keys and the status views run there (engine/ops/engine.py opens either), but some commands still
open only SQLite files. So a PostgreSQL URL is recognised and refused here, at config check time,
naming what is missing, rather than accepted by `sync` and refused later by `replay`.
"""

from __future__ import annotations

from os import PathLike
from typing import Any
from urllib.parse import urlsplit

from engine.config.checks import nonempty
from engine.errors import ConfigError

__all__ = ["NOT_YET_ON_POSTGRESQL", "event_log_target", "is_postgresql_url"]

_SCHEMES = ("postgresql", "postgres")
NOT_YET_ON_POSTGRESQL = (
    "replay to a fresh log, reconcile, the settlement and loan imports, backup and log check, "
    "creds rotate-key, and several workers (run --worker)"
)


def is_postgresql_url(value: str | PathLike[str]) -> bool:
    text = str(value)
    return "://" in text and text.split("://", 1)[0].lower() in _SCHEMES


def event_log_target(value: Any, where: str) -> None:
    nonempty("the event log file, e.g. ml-connector.db")(value, where)
    text = str(value)
    if not is_postgresql_url(text):
        return
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{where} is not a usable PostgreSQL URL: {exc}") from None
    if parts.password:
        # A password here would sit in config.toml in plain text.
        raise ConfigError(
            f"{where} must not carry a password: use ~/.pgpass, PGPASSFILE or PGPASSWORD "
            "(libpq reads them) or a client certificate"
        )
    shown = f"postgresql://{parts.hostname or 'localhost'}{f':{port}' if port else ''}{parts.path}"
    raise ConfigError(
        f"{where} = {shown} selects the PostgreSQL event log, a preview: only the log itself "
        f"runs on PostgreSQL in this version, not yet {NOT_YET_ON_POSTGRESQL}; keep {where} an "
        "SQLite file for now (README: PostgreSQL (preview))"
    )
