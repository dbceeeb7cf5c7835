"""The tailing-reader check shared by the contract test and its negative control.

Writers append small batches, each holding its transaction open a moment after appending (so a
design that numbers positions before commit order would let a later batch commit first). A
reader tails the log meanwhile, one bounded ``read(after=cursor)`` at a time. The violations are
every position the reader saw out of sequence and every position it never saw but that is in the
log at the end: a position "filled in later".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from engine.log import NewEvent

Append = Callable[[Any, list[NewEvent], float], Awaitable[None]]


def batch(tag: str, b: int) -> list[NewEvent]:
    return [
        NewEvent("amazon.orders", "OrderFetched", f"{tag}-{b}-{i}", {"i": i}, "tail")
        for i in range(1 + b % 4)
    ]


def batch_total(writers: int, batches: int) -> int:
    return writers * sum(1 + b % 4 for b in range(batches))


async def port_append(log: Any, events: list[NewEvent], hold_s: float) -> None:
    """Append through the port, keeping the transaction open ``hold_s`` after the append."""
    async with log.transaction() as tx:
        await tx.append(events)
        await asyncio.sleep(hold_s)


async def tail_while_writing(
    reader: Any,
    writer_logs: Sequence[Any],
    *,
    batches: int,
    append: Append = port_append,
    outside: Sequence[Awaitable[Any]] = (),
) -> tuple[list[int], list[str]]:
    """(positions the reader saw in order, violations) once every writer has finished."""
    done = asyncio.Event()
    seen: list[int] = []

    async def write(log: Any, tag: str) -> None:
        for b in range(batches):
            await append(log, batch(tag, b), 0.002 * ((b * 7 + len(tag)) % 3))

    async def writers() -> None:
        try:
            await asyncio.gather(
                *(write(log, f"w{n}") for n, log in enumerate(writer_logs)), *outside
            )
        finally:
            done.set()

    async def tail() -> None:
        cursor = 0
        while True:
            finished = done.is_set()  # read once more after the writers are done
            async for ev in reader.read(after=cursor, batch_size=5):
                seen.append(ev.position)
                cursor = ev.position
            if finished:
                return
            await asyncio.sleep(0.001)

    await asyncio.gather(writers(), tail())
    violations = [
        f"saw {p} right after {q}" for q, p in zip([0, *seen], seen, strict=False) if p != q + 1
    ]
    final = [ev.position async for ev in reader.read()]
    missed = sorted(set(final) - set(seen))
    if missed:
        violations.append(f"never saw {len(missed)} positions filled in later: {missed[:10]}")
    return seen, violations
