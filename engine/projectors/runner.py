"""Runs the pure projectors over the log and persists what they derive.

``run_once``: for each projector, the events after its tracking position, in batches; each
batch's commands, parks, flags, state and the new tracking position commit in ONE transaction,
so a crash never loses or double-counts an event.

``rebuild``: after a mapping change, re-derive everything from position 0 (no side effects on
the way; a scratch database holds what grows with the log), diff against the commands already
in the outbox, and add only the difference (never a second copy of a posted document: command
ids are deterministic). See ``rebuild_diff``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Command
from engine.log.ports import EventLog
from engine.log.records import StoredEvent
from engine.log.sqlite import encode_payload
from engine.projectors import rebuild_diff
from engine.projectors.base import Projection, Projector, State
from engine.projectors.rebuild_diff import RebuildDiff

__all__ = ["ProjectionRunner", "RebuildDiff", "project_from_start"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


# The two-key advisory lock space (int4, int4), apart from the one-key locks of the log and
# outbox: (this class, hash of schema and consumer) orders one consumer's batches [D].
_PROJECTION_LOCK_CLASS = 0x6D6C_6370


class _TrackingMoved(Exception):
    """Another process committed this consumer's batch first."""


class ProjectionRunner:
    """Feeds events to projectors and persists their output transactionally."""

    def __init__(
        self,
        log: EventLog,
        outbox: Outbox,
        projectors: Sequence[Projector],
        batch_size: int = 500,
    ) -> None:
        self.log = log
        self.outbox = outbox
        self.projectors = list(projectors)
        self.batch_size = batch_size

    async def run_once(self, progress: Progress | None = None) -> int:
        """Project every event not yet projected; returns how many events were processed."""
        total = 0
        for projector in self.projectors:
            try:
                total += await self._run_projector(projector, progress, total)
            except _TrackingMoved as moved:  # another worker projects it: leave it to that one
                log.info("%s", moved)
        return total

    async def _run_projector(
        self, projector: Projector, progress: Progress | None, total: int
    ) -> int:
        done = 0
        after = await self.log.tracking(_consumer(projector))
        size = _batch_size(projector, self.batch_size)
        batch: list[StoredEvent] = []
        async for event in self.log.read(after=after, streams=projector.streams, batch_size=size):
            batch.append(event)
            if len(batch) >= size:
                done += await self._commit_batch(projector, batch, after)
                after, batch = batch[-1].position, []
                if progress:
                    progress(projector.name, total + done)
        if batch:
            done += await self._commit_batch(projector, batch, after)
            if progress:
                progress(projector.name, total + done)
        return done

    async def _commit_batch(
        self, projector: Projector, batch: list[StoredEvent], after: int
    ) -> int:
        keys = sorted({k for ev in batch for k in projector.state_keys(ev)})
        async with self.log.transaction() as tx:
            await self._fence(tx, _consumer(projector), after)
            state = await _load_state(tx, projector.name, keys)
            changed: dict[str, State | None] = {}
            commands: list[Command] = []  # one outbox call for a run of events (call order kept)
            for event in batch:
                proj = projector.project(event, {k: v for k, v in state.items() if v is not None})
                commands.extend(proj.commands)
                if proj.parks or proj.resolved or proj.flags:
                    await self._persist(tx, projector.name, commands, proj, event.position)
                    commands = []
                for k, v in proj.state.items():
                    state[k] = v
                    changed[k] = v
            await self._persist(tx, projector.name, commands, None, 0)
            # Two statements for the whole batch, sent with the commit (no result to wait for).
            gone = [(projector.name, k) for k, v in changed.items() if v is None]
            if gone:
                await tx.executemany(
                    "DELETE FROM projection_state WHERE projector = ? AND key = ?", gone
                )
            kept = [
                (projector.name, k, encode_payload(v)) for k, v in changed.items() if v is not None
            ]
            if kept:
                await tx.executemany(
                    "INSERT INTO projection_state (projector, key, state) VALUES (?, ?, ?) "
                    "ON CONFLICT (projector, key) DO UPDATE SET state = excluded.state",
                    kept,
                )
            await tx.set_tracking(_consumer(projector), batch[-1].position)
        return len(batch)

    async def _fence(self, tx: Any, consumer: str, after: int) -> None:
        """Refuse the batch unless this consumer's tracking is still ``after``.

        Several workers on one PostgreSQL log project only under the partition's lease, but a
        worker that stalled past its lease could still be mid-batch: its state and commands
        must not land on top of the new holder's (projector state is not idempotent). The
        advisory lock orders concurrent batches of one consumer; SQLite's writer lock does.
        """
        if self.log.capabilities.backend == "postgresql":
            await tx.fetchall(
                "SELECT pg_advisory_xact_lock(?, hashtext(current_schema() || ':' || ?))",
                (_PROJECTION_LOCK_CLASS, consumer),
            )
        rows = await tx.fetchall("SELECT position FROM tracking WHERE consumer = ?", (consumer,))
        now = int(rows[0][0]) if rows else 0
        if now != after:
            raise _TrackingMoved(
                f"projector {consumer}: tracking moved from {after} to {now} meanwhile "
                "(another worker projects this partition); batch left to it"
            )

    async def _persist(
        self,
        tx: Any,
        name: str,
        commands: list[Command],
        proj: Projection | None,
        position: int,
    ) -> None:
        """The commands derived so far, then ``proj``'s parks, resolutions and flags."""
        if commands:
            await self.outbox.add_commands(tx, commands, name)
        if proj is None:
            return
        for park in proj.parks:
            await self.outbox.add_park(tx, park, name)
        for record_key in proj.resolved:
            await self.outbox.resolve_parks(tx, record_key, position)
        if proj.flags:
            await tx.append(proj.flags)

    async def rebuild(self, *, dry_run: bool, progress: Progress | None = None) -> RebuildDiff:
        """Re-derive all commands from position 0; add only what is missing unless dry-run.

        Streams through a scratch database: memory stays flat in the log's size
        (``rebuild_diff``)."""
        return await rebuild_diff.rebuild(
            self.log, self.outbox, self.projectors, dry_run=dry_run, progress=progress
        )


async def project_from_start(
    log: EventLog, projector: Projector, state: dict[str, State]
) -> AsyncIterator[tuple[StoredEvent, Projection]]:
    """Every event of ``projector`` from position 0 with its projection, side-effect free;
    ``state`` is folded as it goes (rebuild and replay-to-tenant derive from this)."""
    size = _batch_size(projector, 1000)
    async for event in log.read(after=0, streams=projector.streams, batch_size=size):
        proj = projector.project(event, state)
        proj.apply_to(state)
        yield event, proj


def _batch_size(projector: Projector, default: int) -> int:
    """Events per read and per transaction. A projector whose events are huge (a settlement
    holds every row of its report: 100k rows at a busy seller) sets ``batch_size = 1`` so only
    one of them is in memory at a time."""
    own = getattr(projector, "batch_size", None)
    return max(1, min(default, own)) if isinstance(own, int) else default


def _consumer(projector: Projector) -> str:
    return f"projector:{projector.name}"


async def _load_state(tx: Any, name: str, keys: list[str]) -> dict[str, State | None]:
    state: dict[str, State | None] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = await tx.fetchall(
            f"SELECT key, state FROM projection_state WHERE projector = ? "
            f"AND key IN ({','.join('?' * len(chunk))})",
            (name, *chunk),
        )
        for key, blob in rows:
            state[key] = orjson.loads(blob)
    return state
