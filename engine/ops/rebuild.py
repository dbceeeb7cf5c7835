"""``rebuild``: re-run every projector from position 0 and diff against the commands already
derived; optionally add the new ones and dispatch them at once. ``db`` is an SQLite file or a
PostgreSQL URL (``open_event_log``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from engine.commands.outbox import Outbox
from engine.config import Config
from engine.dispatch.dispatcher import RunCounts
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.engine import build_projectors
from engine.ops.session import open_engine
from engine.projectors.runner import ProjectionRunner, RebuildDiff

__all__ = ["RebuildDiff", "rebuild_and_dispatch", "rebuild_only"]


async def rebuild_only(cfg: Config, db: str | Path, *, dry_run: bool) -> RebuildDiff:
    """Re-derive on ``db`` without posting; ``dry_run`` changes nothing, else adds the new.

    ``dry_run`` opens the log read-only: no writer lock (it runs beside a sync), no schema
    change (PostgreSQL: read-only transactions), and a read-only file works.
    """
    if dry_run:
        async with open_event_log(db, readonly=True) as log:
            outbox = Outbox(log)
            view = log if await outbox.has_tables() else cast(EventLog, _NeverProjected(log))
            return await ProjectionRunner(view, outbox, build_projectors(cfg)).rebuild(dry_run=True)
    async with open_event_log(db) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        runner = ProjectionRunner(log, outbox, build_projectors(cfg))
        return await runner.rebuild(dry_run=dry_run)


async def rebuild_and_dispatch(
    cfg: Config,
    *,
    vault_path: Path | None = None,
    rebuilt: Callable[[RebuildDiff], None] | None = None,
) -> RunCounts:
    """Open the engine (on ``[engine] db``), add the new commands and post them now.

    ``rebuilt(diff)`` is called with the diff before dispatching starts.
    """
    async with open_engine(cfg, vault_path=vault_path) as eng:
        diff = await eng.runner.rebuild(dry_run=False)
        if rebuilt is not None:
            rebuilt(diff)
        return await eng.dispatcher.run_until_idle(cfg.dispatch.timeout_s * 4)


class _NeverProjected:
    """A read-only log without outbox tables (no projector ran on it yet), as a dry-run rebuild
    reads it: no commands and no parked records, so everything derived is new."""

    _OUTBOX = re.compile(r"\bfrom\s+(commands|parked_records)\b", re.IGNORECASE)

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._OUTBOX.search(sql):
            return []
        return await self._log.query(sql, params)
