"""A seeded random walk over a real outbox: creates (a repeat adds nothing), attempts of every
outcome and re-queues, with a check after every step. Shared by the tests of what the outbox
keeps beside its append-only tables (``open_commands``, the state counts)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.commands.outbox import Outbox
from engine.commands.records import AttemptRecord, utc_now
from engine.commands.vocabulary import Command, make_command
from engine.log.opening import open_event_log
from engine.log.ports import EventLog

OUTCOMES = ("ok", "exists", "skipped", "retry", "unknown", "parked", "verifying")


async def attempt(box: Outbox, cid: str, outcome: str, response: str = "resp") -> None:
    retry_at = utc_now() - timedelta(seconds=1) if outcome in ("retry", "unknown") else None
    await box.record_attempt(
        AttemptRecord(cid, utc_now(), "test", "req", response, outcome, retry_at=retry_at)
    )


async def random_walk(
    box: Outbox,
    rng: random.Random,
    steps: int,
    check: Callable[[int], Awaitable[None]],
    *,
    kinds: Sequence[str] = ("qad.sales_order.create",),
    responses: Sequence[str] = ("resp",),
) -> list[str]:
    """Run ``steps`` random writes, awaiting ``check(step)`` after each; the command ids."""
    ids: list[str] = []
    for step in range(steps):
        op = rng.random()
        if op < 0.3 or not ids:
            record = f"r-{rng.randrange(50)}"
            cmd = make_command(rng.choice(kinds), "qad", record, record, {"n": step})
            async with box.log.transaction() as tx:
                await box.add_commands(tx, [cmd, cmd], "test")  # a repeat adds nothing
            ids.append(cmd.command_id)
        elif op < 0.9:
            await attempt(box, rng.choice(ids), rng.choice(OUTCOMES), rng.choice(responses))
        else:
            await box.requeue(rng.choice(ids))
        await check(step)
    return ids


@asynccontextmanager
async def walked(
    target: str | Path,
    seed: int,
    steps: int,
    kept: Callable[[EventLog], Awaitable[Any]],
    defined: Callable[[EventLog], Awaitable[Any]],
    **walk: Any,
) -> AsyncIterator[tuple[EventLog, Outbox]]:
    """A fresh outbox walked ``steps`` times, ``kept(log) == defined(log)`` after every step
    (what the outbox keeps vs its definition read from the history); yields it for more."""
    async with open_event_log(target) as log:
        box = Outbox(log)
        await box.ensure()

        async def same(step: int) -> None:
            assert await kept(log) == await defined(log), step

        await random_walk(box, random.Random(seed), steps, same, **walk)
        yield log, box


async def six_journals(box: Outbox) -> list[Command]:
    """Six journal commands: ok, parked, retry, exists, skipped and one never tried."""
    cmds = [make_command("qad.journal.create", "qad", f"s{i}", f"s{i}", {}) for i in range(6)]
    async with box.log.transaction() as tx:
        await box.add_commands(tx, cmds, "test")
    for cmd, outcome in zip(cmds, ("ok", "parked", "retry", "exists", "skipped"), strict=False):
        await attempt(box, cmd.command_id, outcome)
    return cmds
