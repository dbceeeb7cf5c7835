"""``sync --once`` with its phases overlapped: pollers feed projection while the dispatcher drains.

Issue 18 measured the strict sequence poll -> project -> dispatch at 31 s + 14 s + 24 s on 20k
orders; most of the poll phase waits on Amazon (pages, report documents) while QAD sits idle.
Here three tasks run side by side:

- **poll**: every poller once, as ``Engine.poll`` always did (each page commits on its own);
- **project**: whenever the log's head moved (a page or a report was committed), the
  projection runner projects what is new; once the pollers are done, one last pass;
- **dispatch**: the dispatcher posts whatever is due as projection adds it, woken by each
  projection pass that derived something; once projection is done, ``run_until_idle`` as
  before, so the pass still ends with everything posted that can be posted.

Nothing about ordering or crash safety changes, because nothing here is new to the engine:
``run`` already lets polls of one flow overlap the projection and dispatch of another. The rules
stay where they were: ``Outbox.pending`` offers only the oldest open command of a record, and
the dispatcher awaits a whole claimed page before claiming the next, so the commands of one
record go in seq order and never two at once. Projection commits commands with their tracking
position in one transaction; the dispatcher's send intents and attempts are what they always
were: a kill at any point leaves the state a restart resumes from.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from engine.commands.outbox import Outbox
from engine.dispatch.dispatcher import Dispatcher, RunCounts
from engine.log.ports import EventLog
from engine.projectors.runner import ProjectionRunner

__all__ = ["PROJECT_EVERY_S", "Overlappable", "sync_overlapped"]

Progress = Callable[[str], None]


class PassReport(Protocol):
    """What the pass fills in of ``engine.ops.engine.SyncReport`` (``poll`` made it)."""

    projected: int
    dispatched: dict[str, int]
    parked_total: int


Report = TypeVar("Report", bound=PassReport)
Report_co = TypeVar("Report_co", bound=PassReport, covariant=True)


class Overlappable(Protocol[Report_co]):
    """What the pass needs of the engine (``engine.ops.engine.Engine``; no import: a cycle)."""

    log: EventLog
    outbox: Outbox
    runner: ProjectionRunner
    dispatcher: Dispatcher

    def poll(
        self, names: list[str] | None = None, progress: Progress | None = None
    ) -> Coroutine[Any, Any, Report_co]: ...


# The shortest gap between two projection passes while pollers still run: each pass is one
# transaction per projector batch, so projecting after every single page of a fast poller would
# multiply write transactions for no gain in freshness ([I] 0.25 s is well under a page's fetch).
PROJECT_EVERY_S = 0.25


async def sync_overlapped(
    engine: Overlappable[Report],
    progress: Progress | None = None,
    dispatch_timeout_s: float = 600.0,
) -> Report:
    """One catch-up pass (``Engine.sync_once``): poll, project and dispatch concurrently."""
    projected = 0
    derived = asyncio.Event()  # a projection pass added something: the dispatcher looks again
    totals = Counter[str]()

    async def project(polling: asyncio.Task[Report]) -> None:
        nonlocal projected
        seen = -1
        while True:
            finished = polling.done()  # read before the head: the last pass sees every page
            head = await engine.log.head()
            if head != seen:
                seen = head
                n = await engine.runner.run_once()
                projected += n
                if n:
                    derived.set()
            if finished:
                return
            await asyncio.wait([polling], timeout=PROJECT_EVERY_S)

    def add(counts: RunCounts) -> None:
        totals.update({k: v for k, v in counts.as_dict().items() if v})

    async def dispatch(projecting: asyncio.Task[None]) -> None:
        while not projecting.done():
            derived.clear()
            add(await engine.dispatcher.run_once())
            waker = asyncio.ensure_future(derived.wait())
            try:  # nothing more is due until projection derives something (or ends)
                await asyncio.wait([projecting, waker], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()
        if progress:
            progress(f"projected {projected} events")
        add(await engine.dispatcher.run_until_idle(dispatch_timeout_s))

    polling: asyncio.Task[Report] = asyncio.create_task(engine.poll(progress=progress))
    projecting = asyncio.create_task(project(polling))
    dispatching = asyncio.create_task(dispatch(projecting))
    tasks = (polling, projecting, dispatching)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:  # the first failure ends the pass, as in the sequential one
            failure = task.exception() if task.done() and not task.cancelled() else None
            if failure is not None:
                raise failure
    finally:
        for task in tasks:
            task.cancel()
        # The dispatcher's cancelled posts record 'unknown' (shielded) before they finish.
        await asyncio.gather(*tasks, return_exceptions=True)
    report = polling.result()
    report.projected = projected
    report.dispatched = dict(totals)
    if progress:
        progress(f"dispatched {report.dispatched or 'nothing'}")
    report.parked_total = await engine.outbox.needs_attention()
    return report
