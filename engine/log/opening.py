"""Open the event log ``[engine] db`` names: an SQLite file (the default) or a PostgreSQL URL.

The one place a backend is chosen, so every room above works on ``EventLog`` and the choice is
config alone. psycopg is imported only when a PostgreSQL URL is opened (the optional extra).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from engine.config.database import is_postgresql_url, partition_namespace, split_partition
from engine.errors import StoreError
from engine.log.ports import EventLog
from engine.log.sqlite import SQLiteEventLog

__all__ = ["open_event_log"]


@asynccontextmanager
async def open_event_log(
    target: str | Path,
    *,
    readonly: bool = False,
    synchronous: str = "FULL",
    pool_size: int = 4,
    namespace: str | None = None,
) -> AsyncIterator[EventLog]:
    """The log at ``target``; ``synchronous`` applies to SQLite, ``pool_size`` and ``namespace``
    (the schema holding the log, see PostgresEventLog.open) to PostgreSQL."""
    if not is_postgresql_url(target):
        if namespace is not None:  # a programming error: an SQLite partition is its own file
            raise StoreError(f"event log {target} is an SQLite file: it has no schemas")
        async with SQLiteEventLog.open(target, readonly=readonly, synchronous=synchronous) as log:
            yield log
        return
    base, partition = split_partition(target)
    if partition:  # postgresql://host/db#partition: that partition's schema
        if namespace is not None:
            raise StoreError(f"event log {base}: both a #partition and a schema given")
        namespace = partition_namespace(base, partition)
    try:
        from engine.log.postgres import PostgresEventLog
    except ImportError as exc:  # the extra is not installed
        raise StoreError(
            "[engine] db is a PostgreSQL URL but psycopg is not installed: "
            "pip install 'ml-connector[postgresql]'"
        ) from exc
    async with PostgresEventLog.open(
        base, readonly=readonly, pool_size=pool_size, namespace=namespace
    ) as pg:
        yield pg
