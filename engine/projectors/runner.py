"""Runs the pure projectors over the log and persists what they derive.

``run_once``: for each projector, the events after its tracking position, in batches; each
batch's commands, parks, flags, state and the new tracking position commit in ONE transaction,
so a crash never loses or double-counts an event.

``rebuild``: after a mapping change, re-derive everything from position 0 in memory (no side
effects), diff against the commands already in the outbox, and add only the difference (never
a second copy of a posted document: command ids are deterministic).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Command, Park
from engine.log.records import StoredEvent
from engine.log.sqlite import SQLiteEventLog, encode_payload
from engine.projectors.base import Projection, Projector, State

__all__ = ["ProjectionRunner", "RebuildDiff", "project_from_start"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]


@dataclass(slots=True)
class RebuildDiff:
    """What a rebuild found: commands to add, commands no longer derived, park changes."""

    events: int = 0
    derived: int = 0
    new: list[Command] = field(default_factory=list)
    no_longer_derived: list[str] = field(default_factory=list)
    new_parks: list[Park] = field(default_factory=list)
    resolved_parks: list[str] = field(default_factory=list)


class ProjectionRunner:
    """Feeds events to projectors and persists their output transactionally."""

    def __init__(
        self,
        log: SQLiteEventLog,
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
            after = await self.log.tracking(_consumer(projector))
            size = _batch_size(projector, self.batch_size)
            batch: list[StoredEvent] = []
            async for event in self.log.read(
                after=after, streams=projector.streams, batch_size=size
            ):
                batch.append(event)
                if len(batch) >= size:
                    total += await self._commit_batch(projector, batch)
                    batch = []
                    if progress:
                        progress(projector.name, total)
            if batch:
                total += await self._commit_batch(projector, batch)
                if progress:
                    progress(projector.name, total)
        return total

    async def _commit_batch(self, projector: Projector, batch: list[StoredEvent]) -> int:
        keys = sorted({k for ev in batch for k in projector.state_keys(ev)})
        async with self.log.transaction() as tx:
            state = await _load_state(tx, projector.name, keys)
            changed: dict[str, State | None] = {}
            for event in batch:
                proj = projector.project(event, {k: v for k, v in state.items() if v is not None})
                await self._persist(tx, projector.name, proj, event.position)
                for k, v in proj.state.items():
                    state[k] = v
                    changed[k] = v
            for k, v in changed.items():
                if v is None:
                    await tx.execute(
                        "DELETE FROM projection_state WHERE projector = ? AND key = ?",
                        (projector.name, k),
                    )
                else:
                    await tx.execute(
                        "INSERT INTO projection_state (projector, key, state) VALUES (?, ?, ?) "
                        "ON CONFLICT (projector, key) DO UPDATE SET state = excluded.state",
                        (projector.name, k, encode_payload(v)),
                    )
            await tx.set_tracking(_consumer(projector), batch[-1].position)
        return len(batch)

    async def _persist(self, tx: Any, name: str, proj: Projection, position: int) -> None:
        if proj.commands:
            await self.outbox.add_commands(tx, proj.commands, name)
        for park in proj.parks:
            await self.outbox.add_park(tx, park, name)
        for record_key in proj.resolved:
            await self.outbox.resolve_parks(tx, record_key, position)
        if proj.flags:
            await tx.append(proj.flags)

    async def rebuild(self, *, dry_run: bool, progress: Progress | None = None) -> RebuildDiff:
        """Re-derive all commands from position 0; add only what is missing unless dry-run."""
        diff = RebuildDiff()
        derived: list[tuple[str, Command]] = []
        parks: dict[str, tuple[str, Park]] = {}
        states: dict[str, dict[str, State]] = {}
        tracking: dict[str, int] = {}
        for projector in self.projectors:
            state: dict[str, State] = {}
            last = 0
            async for event, proj in project_from_start(self.log, projector, state):
                for cmd in proj.commands:
                    derived.append((projector.name, cmd))
                for park in proj.parks:
                    parks[park.record_key] = (projector.name, park)
                for record_key in proj.resolved:
                    parks.pop(record_key, None)
                diff.events += 1
                last = event.position
                if progress and diff.events % 5000 == 0:
                    progress(projector.name, diff.events)
            states[projector.name] = state
            tracking[projector.name] = last
        diff.derived = len(derived)
        existing = {row[0] for row in await self.log.query("SELECT command_id FROM commands")}
        derived_ids = {cmd.command_id for _, cmd in derived}
        diff.new = [cmd for _, cmd in derived if cmd.command_id not in existing]
        diff.no_longer_derived = sorted(existing - derived_ids)
        open_parks = {
            r[0]
            for r in await self.log.query(
                "SELECT record_key FROM parked_records WHERE resolved_by IS NULL"
            )
        }
        diff.new_parks = [p for _, p in parks.values() if p.record_key not in open_parks]
        diff.resolved_parks = sorted(open_parks - set(parks))
        if dry_run:
            return diff
        async with self.log.transaction() as tx:
            for name, cmd in derived:
                if cmd.command_id not in existing:
                    await self.outbox.add_commands(tx, [cmd], name)
            for name, park in parks.values():
                if park.record_key not in open_parks:
                    await self.outbox.add_park(tx, park, name)
            for record_key in diff.resolved_parks:
                await self.outbox.resolve_parks(tx, record_key, 0)
            for projector in self.projectors:
                await tx.execute(
                    "DELETE FROM projection_state WHERE projector = ?", (projector.name,)
                )
                await tx.executemany(
                    "INSERT INTO projection_state (projector, key, state) VALUES (?, ?, ?)",
                    [
                        (projector.name, k, encode_payload(v))
                        for k, v in states[projector.name].items()
                    ],
                )
                await tx.set_tracking(_consumer(projector), tracking[projector.name])
        return diff


async def project_from_start(
    log: SQLiteEventLog, projector: Projector, state: dict[str, State]
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
