"""Re-derive a projector's output from position 0 with its state in a scratch database.

``rebuild`` and ``replay --to-tenant`` fold every event of the log through the pure projectors.
The state those projectors carry (e.g. one entry per order: its posted version) grows with the
log, so it lives in a ``Scratch`` table and only the keys of the current batch are in memory,
loaded and written back per batch exactly as the live runner does with ``projection_state``
(``state_keys`` decides what a batch needs) [I: same contract as ``ProjectionRunner.run_once``].
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import orjson

from engine.log.ports import EventLog
from engine.log.records import StoredEvent
from engine.log.scratch import Scratch
from engine.log.sqlite import encode_payload
from engine.projectors.base import Projection, Projector, State

__all__ = ["STATE_DDL", "batch_size_of", "derive_batches", "load_state", "state_rows"]

STATE_DDL = """
CREATE TABLE IF NOT EXISTS state (
    projector TEXT NOT NULL,
    key       TEXT NOT NULL,
    state     BLOB NOT NULL,
    PRIMARY KEY (projector, key)
) WITHOUT ROWID;
"""

_KEYS_PER_QUERY = 500  # below SQLite's default host-parameter limit with room to spare


def batch_size_of(projector: Projector, default: int) -> int:
    """Events per read: ``default``, or the projector's own smaller ``batch_size`` (a settlement
    projector sets 1: one event can hold 100k report rows)."""
    own = getattr(projector, "batch_size", None)
    return max(1, min(default, own)) if isinstance(own, int) else default


async def derive_batches(
    log: EventLog, projector: Projector, scratch: Scratch, *, batch_size: int = 1000
) -> AsyncIterator[list[tuple[StoredEvent, Projection]]]:
    """Every event of ``projector`` from position 0 with its projection, one batch at a time;
    side-effect free on the log (state goes to ``scratch``'s ``state`` table)."""
    scratch.script(STATE_DDL)
    size = batch_size_of(projector, batch_size)
    batch: list[StoredEvent] = []
    async for event in log.read(after=0, streams=projector.streams, batch_size=size):
        batch.append(event)
        if len(batch) >= size:
            yield _project(projector, scratch, batch)
            batch = []
    if batch:
        yield _project(projector, scratch, batch)


def _project(
    projector: Projector, scratch: Scratch, batch: list[StoredEvent]
) -> list[tuple[StoredEvent, Projection]]:
    keys = sorted({k for ev in batch for k in projector.state_keys(ev)})
    state = load_state(scratch, projector.name, keys)
    changed: dict[str, State | None] = {}
    out = []
    for event in batch:
        proj = projector.project(event, state)
        proj.apply_to(state)
        changed.update(proj.state)
        out.append((event, proj))
    scratch.begin()
    scratch.executemany(
        "DELETE FROM state WHERE projector = ? AND key = ?",
        [(projector.name, k) for k, v in changed.items() if v is None],
    )
    # Stored as the live runner stores ``projection_state`` (canonical JSON), so the fold sees
    # the same values a live projection would.
    scratch.executemany(
        "INSERT OR REPLACE INTO state (projector, key, state) VALUES (?, ?, ?)",
        [(projector.name, k, encode_payload(v)) for k, v in changed.items() if v is not None],
    )
    scratch.commit()
    return out


def load_state(scratch: Scratch, name: str, keys: list[str]) -> dict[str, State]:
    state: dict[str, State] = {}
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        rows = scratch.rows(
            f"SELECT key, state FROM state WHERE projector = ? "
            f"AND key IN ({','.join('?' * len(chunk))})",
            (name, *chunk),
        )
        for key, blob in rows:
            state[key] = orjson.loads(blob)
    return state


def state_rows(scratch: Scratch, name: str, size: int = 1000) -> Iterator[list[tuple[str, bytes]]]:
    """The folded state of ``name`` as pages of (key, canonical JSON), to store as
    ``projection_state`` after a rebuild."""
    for chunk in scratch.stream(
        "SELECT key, state FROM state WHERE projector = ? ORDER BY key", (name,), size=size
    ):
        yield [(str(k), bytes(v)) for k, v in chunk]
