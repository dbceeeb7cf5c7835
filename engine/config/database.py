"""``[engine] db``: an SQLite file (the default) or a PostgreSQL URL; ``[engine] partition``.

A PostgreSQL URL selects the PostgreSQL backend of every room (log, outbox, projections, PII
keys, views; engine/log/opening.py chooses). The URL is checked here for what config can know
before anything connects: it parses, and it carries no password (config.toml is plain text;
libpq reads ~/.pgpass, PGPASSFILE, PGPASSWORD or a client certificate instead). Whether the
server answers, and with our schema, is said in one line when the log opens.
"""

from __future__ import annotations

import re
from os import PathLike
from typing import Any
from urllib.parse import urlsplit

from engine.config.checks import nonempty
from engine.errors import ConfigError

__all__ = [
    "check_partition",
    "event_log_target",
    "is_postgresql_url",
    "partition_name",
    "partition_namespace",
    "split_partition",
    "with_partition",
]

_SCHEMES = ("postgresql", "postgres")


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
        _ = parts.port  # a port that is no number is refused here, not by libpq later
    except ValueError as exc:
        raise ConfigError(f"{where} is not a usable PostgreSQL URL: {exc}") from None
    if parts.password:
        # A password here would sit in config.toml in plain text.
        raise ConfigError(
            f"{where} must not carry a password: use ~/.pgpass, PGPASSFILE or PGPASSWORD "
            "(libpq reads them) or a client certificate"
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


def split_partition(db: str | PathLike[str]) -> tuple[str, str]:
    """(the database, the partition) of a log target: ``postgresql://host/db#acme_eu`` names
    partition acme_eu's log in that database, the form every ``--db`` option takes and that
    a partition's config carries in ``[engine] db`` once loaded (see ``check_partition``)."""
    text = str(db)
    if not is_postgresql_url(text) or "#" not in text:
        return text, ""
    base, partition = text.split("#", 1)
    return base, partition


def with_partition(db: str, partition: str) -> str:
    base, _ = split_partition(db)
    return f"{base}#{partition}" if partition else base


def check_partition(db: str, partition: str, source: str) -> str:
    """``[engine] db`` carrying ``[engine] partition`` (the ``#partition`` form), so every room
    that opens the configured log opens this partition's; refuses what cannot be one.

    A partition shares one PostgreSQL database with others; an SQLite log is one file per
    partition already, so a partition name there would suggest a sharing that is not there.
    """
    if not is_postgresql_url(db):
        if partition:
            raise ConfigError(
                f"{source}: [engine] partition = {partition!r} needs [engine] db to be a "
                "PostgreSQL URL (partitions share one database); with SQLite give each seller "
                "its own db file"
            )
        return db
    _, named = split_partition(db)
    if named:
        partition_name(named, f"{source}: the partition after # in engine.db")
        if partition and partition != named:
            raise ConfigError(
                f"{source}: engine.db names partition {named!r} after #, but [engine] "
                f"partition = {partition!r}; set one of them"
            )
    return with_partition(db, partition or named)


def partition_namespace(db: str | PathLike[str], partition: str = "") -> str | None:
    """The PostgreSQL schema holding a partition's log: ``partition``, or the one ``db`` names
    after # (None: the database's default schema, or an SQLite file)."""
    if not is_postgresql_url(db):
        return None
    partition = partition or split_partition(db)[1]
    return f"{NAMESPACE_PREFIX}{partition}" if partition else None
