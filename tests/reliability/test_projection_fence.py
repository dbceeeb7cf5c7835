"""Two processes projecting one log (a worker that stalled past its lease, and the new holder):
a batch whose tracking moved meanwhile is left to the process that moved it, so projector state
and commands are those of one projection (both backends)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from engine.commands.outbox import Outbox
from engine.log.opening import open_event_log
from engine.log.records import StoredEvent
from engine.ops.demo import simulator_config
from engine.ops.engine import build_projectors
from engine.projectors import runner as runner_module
from engine.projectors.base import Projection, State
from engine.projectors.runner import ProjectionRunner
from tests.reliability.order_logs import seed_orders, target

__all__ = ["target"]  # the fixture, used by name


def _projectors(tmp_path: Path):  # type: ignore[no-untyped-def]
    cfg = simulator_config(tmp_path / "x.db", amazon_base="http://x", lwa_url="", qad_url="")
    return build_projectors(cfg)


async def _books(db: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    async with open_event_log(db, readonly=True) as log:
        commands = await log.query(
            "SELECT command_id, seq, kind, record_key FROM commands ORDER BY seq"
        )
        state = await log.query(
            "SELECT projector, key, state FROM projection_state ORDER BY projector, key"
        )
    return commands, state


async def test_a_stale_batch_is_left_to_the_process_that_moved_the_tracking(
    target: str, tmp_path: Path
) -> None:
    await seed_orders(target, 30)
    async with open_event_log(target) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        ahead = ProjectionRunner(log, outbox, _projectors(tmp_path))
        assert await ahead.run_once() >= 30
        before = await _books(target)
        stale = ProjectionRunner(log, outbox, _projectors(tmp_path))
        projector = stale.projectors[0]
        events = [e async for e in log.read(streams=projector.streams)]
        # The stalled process still believes the tracking is 0 and commits its batch now.
        with pytest.raises(runner_module._TrackingMoved, match="tracking moved from 0"):
            await stale._commit_batch(projector, events[:10], 0)
    assert await _books(target) == before  # nothing of the stale batch landed


async def test_two_concurrent_runners_give_the_books_of_one(pg_dsn: str, tmp_path: Path) -> None:
    # PostgreSQL only: an SQLite log has one writer process (its lock file refuses a second).
    target = pg_dsn
    await seed_orders(target, 120)
    alone = str(tmp_path / "alone.db")
    await seed_orders(alone, 120)
    async with open_event_log(alone) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        await ProjectionRunner(log, outbox, _projectors(tmp_path), batch_size=7).run_once()
    async with open_event_log(target) as first, open_event_log(target) as second:
        await Outbox(first).ensure()

        async def project(log) -> int:  # type: ignore[no-untyped-def]
            runner = ProjectionRunner(log, Outbox(log), _projectors(tmp_path), batch_size=7)
            done = 0
            for _ in range(5):
                done += await runner.run_once()
            return done

        a, b = await asyncio.gather(project(first), project(second))
        assert a + b >= 120  # every order projected once between them (more: several streams)
    commands, state = await _books(target)
    ref_commands, ref_state = await _books(alone)
    assert [c[0] for c in commands] == [c[0] for c in ref_commands]
    assert state == ref_state


class Tally:
    """A projector whose state is cumulative (a count of events): a batch applied twice shows."""

    name = "tally"
    streams = ("amazon.orders",)

    def state_keys(self, event: StoredEvent) -> list[str]:
        return ["total"]

    def project(self, event: StoredEvent, state: dict[str, State]) -> Projection:
        seen = int(state.get("total", {}).get("n", 0))
        return Projection(state={"total": {"n": seen + 1}})


async def test_concurrent_runners_never_apply_a_batch_twice(pg_dsn: str) -> None:
    await seed_orders(pg_dsn, 200)
    async with open_event_log(pg_dsn) as first, open_event_log(pg_dsn) as second:
        await Outbox(first).ensure()

        async def project(log) -> None:  # type: ignore[no-untyped-def]
            runner = ProjectionRunner(log, Outbox(log), [Tally()], batch_size=3)
            for _ in range(3):
                await runner.run_once()

        await asyncio.gather(*(project(log) for log in (first, second, first, second)))
        [(state,)] = await first.query("SELECT state FROM projection_state WHERE key = 'total'")
    assert orjson.loads(state) == {"n": 200}  # each order counted once
