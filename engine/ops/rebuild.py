"""``rebuild``: re-run every projector from position 0 and diff against the commands already
derived; optionally add the new ones and dispatch them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.commands.outbox import Outbox
from engine.config import Config
from engine.dispatch.dispatcher import RunCounts
from engine.log.sqlite import SQLiteEventLog
from engine.ops.engine import build_projectors
from engine.ops.session import open_engine
from engine.projectors.runner import ProjectionRunner, RebuildDiff

__all__ = ["RebuildDiff", "rebuild_and_dispatch", "rebuild_only"]


async def rebuild_only(cfg: Config, db: str | Path, *, dry_run: bool) -> RebuildDiff:
    """Re-derive on ``db`` without posting; ``dry_run`` changes nothing, else adds the new."""
    async with SQLiteEventLog.open(db) as log:
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
