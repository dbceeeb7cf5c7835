"""``log migrate``'s rooms: every table an engine keeps beside its log, for the copy to PostgreSQL.

engine.log.migrate copies the events and whatever tables the SQLite file holds, but it sits
below the rooms that own those tables, so this module names them: each creates its PostgreSQL
form with its own ``ensure`` (the DDL is never written twice), exactly as ``Engine.open`` and the
pollers would on a new log. A table a room keeps by triggers (the outbox's state counts) is
counted by the target's own triggers as the rows go in, then compared with the source's.
"""

from __future__ import annotations

from pathlib import Path

from engine.commands.outbox import Outbox
from engine.dispatch.freshness import SCHEMA as FRESHNESS_SCHEMA
from engine.log.migrate import MigrateReport, Progress, Rooms, migrate_log
from engine.log.ports import EventLog
from engine.ops.flow_health import SCHEMA as FLOW_HEALTH_SCHEMA
from engine.ops.tenant_lease import _DEPLOYMENT
from engine.pollers.order_versions import SCHEMA as ORDER_VERSIONS_SCHEMA
from engine.security.pii_keys import LogStore

__all__ = ["ENGINE_ROOMS", "ensure_rooms", "migrate_to_postgresql"]


async def ensure_rooms(log: EventLog) -> None:
    """Create every room's tables on ``log`` (idempotent; writes no rows on a new log)."""
    await Outbox(log).ensure()  # commands, attempts, parks, projection state, intents, counts
    await LogStore(log).ensure_schema()  # PII data keys
    await log.ensure_schema(FLOW_HEALTH_SCHEMA)
    await log.ensure_schema(ORDER_VERSIONS_SCHEMA)
    await log.ensure_schema(FRESHNESS_SCHEMA)
    # The deployment identity's table, without minting an identity (log_identity would): the
    # source's own is copied, so tenant claims naming it still match after the move.
    await log.ensure_schema(_DEPLOYMENT)


ENGINE_ROOMS = Rooms(
    ensure=ensure_rooms,
    # The outbox's per-state counts (engine.commands.state_counts): zero rows are left behind by
    # the triggers' decrements, and depend on the order commands met their attempts.
    kept={"command_state_counts": ("target, kind, region, state, n", "n <> 0")},
)


async def migrate_to_postgresql(
    source: Path,
    dsn: str,
    *,
    batch_size: int = 5000,
    dry_run: bool = False,
    progress: Progress | None = None,
    namespace: str | None = None,
) -> MigrateReport:
    """The SQLite log ``source`` and every room beside it into the PostgreSQL log at ``dsn``."""
    return await migrate_log(
        source, dsn, batch_size=batch_size, dry_run=dry_run, progress=progress,
        rooms=ENGINE_ROOMS, namespace=namespace,
    )  # fmt: skip
