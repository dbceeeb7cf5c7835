"""``[engine] db``: an SQLite file (the default) or, in preview, a PostgreSQL URL.

Issue 20 moves the engine to PostgreSQL step by step: the log, the outbox, projection state, PII
keys and the status views run there (engine/ops/engine.py opens either), but some commands still
open only SQLite files. So a PostgreSQL URL is recognised and refused here, at config check time,
naming what is missing, rather than accepted by `sync` and refused later by `replay`.
"""

from __future__ import annotations

import re
from os import PathLike
from typing import Any
from urllib.parse import urlsplit

from engine.config.checks import nonempty
from engine.errors import ConfigError

__all__ = [
    "NOT_YET_ON_POSTGRESQL",
    "check_partition",
    "event_log_target",
    "is_postgresql_url",
    "partition_name",
    "partition_namespace",
]

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


# A partition's name becomes part of a PostgreSQL schema name (``mlc_p_<name>``, at most 63
# bytes), quoted by us: lower-case letters, digits and _ only, so no case folding applies.
_PARTITION = re.compile(r"[a-z][a-z0-9_]{0,49}")
NAMESPACE_PREFIX = "mlc_p_"


def partition_name(value: Any, where: str) -> None:
    """``[engine] partition``: empty (the default: one seller, the log's default schema) or a
    name such as ``acme_eu``."""
    if value == "":
        return
    if not isinstance(value, str) or not _PARTITION.fullmatch(value):
        raise ConfigError(
            f"{where} must be 1-50 lower-case letters, digits and _ starting with a letter "
            f"(e.g. acme_eu for the seller acme in Europe), got {value!r}"
        )


def check_partition(db: str, partition: str, source: str) -> None:
    """A partition shares one PostgreSQL database with others; an SQLite log is one file per
    partition already, so a partition name there would suggest a sharing that is not there."""
    if partition and not is_postgresql_url(db):
        raise ConfigError(
            f"{source}: [engine] partition = {partition!r} needs [engine] db to be a PostgreSQL "
            "URL (partitions share one database); with SQLite give each seller its own db file"
        )


def partition_namespace(db: str, partition: str) -> str | None:
    """The PostgreSQL schema holding ``partition``'s log (None: the default schema, or SQLite)."""
    if not partition or not is_postgresql_url(db):
        return None
    return f"{NAMESPACE_PREFIX}{partition}"
