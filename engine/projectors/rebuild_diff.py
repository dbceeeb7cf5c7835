"""``rebuild``: re-derive everything from position 0 and diff it against the outbox, streaming.

Nothing that grows with the log is held in memory (issue 18: the in-memory diff took 237 MB at
50k orders). Derived commands, parks and the projectors' state go to a private ``Scratch``
database as the events are projected; the stored command ids and parked records are copied
there page by page; the diff is then a pair of anti-joins in SQLite, and what it reports keeps
only a bounded sample in memory (counts are exact). Without ``dry_run`` the new commands, parks
and the rebuilt state are written to the log in ONE transaction, streamed from the scratch
database in derivation order (command ids are deterministic: never a second copy of a command).

Same semantics as the former in-memory diff: every derived command is kept (a command derived
twice is reported twice, as before), parks fold per record key (a later park replaces an earlier
one in place, a resolution removes it), "open" parks are the log's unresolved park rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Command, Park
from engine.log.ports import EventLog
from engine.log.scratch import Scratch, pack, unpack
from engine.projectors.base import Projector
from engine.projectors.derive import derive_batches, state_rows

__all__ = ["SAMPLE", "RebuildDiff", "rebuild"]

Progress = Callable[[str, int], None]

# How many new commands a diff keeps as objects (the CLI prints 50); parks and ids, being small,
# keep up to PARK_SAMPLE. The counts are always exact.
SAMPLE = 1000
PARK_SAMPLE = 10_000
_PAGE = 5000  # rows per page copied from the log into the scratch database

_DDL = """
CREATE TABLE derived (seq INTEGER PRIMARY KEY, command_id TEXT NOT NULL,
                      projector TEXT NOT NULL, cmd BLOB NOT NULL);
CREATE TABLE parks (record_key TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                    projector TEXT NOT NULL, park BLOB NOT NULL);
CREATE TABLE stored (command_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE open_parks (record_key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE tracking (projector TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""
_NEW = "FROM derived d WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.command_id = d.command_id)"
_GONE = "FROM stored s WHERE NOT EXISTS (SELECT 1 FROM derived d WHERE d.command_id = s.command_id)"
_NEW_PARKS = (
    "FROM parks p WHERE NOT EXISTS (SELECT 1 FROM open_parks o WHERE o.record_key = p.record_key)"
)
_RESOLVED = (
    "FROM open_parks o WHERE NOT EXISTS (SELECT 1 FROM parks p WHERE p.record_key = o.record_key)"
)


@dataclass(slots=True)
class RebuildDiff:
    """What a rebuild found: commands to add, commands no longer derived, park changes.

    The lists are the first ``SAMPLE`` (commands) / ``PARK_SAMPLE`` (ids, parks) items in
    derivation order (ids and resolved keys sorted); the ``*_count`` fields are exact.
    """

    events: int = 0
    derived: int = 0
    new: list[Command] = field(default_factory=list)
    no_longer_derived: list[str] = field(default_factory=list)
    new_parks: list[Park] = field(default_factory=list)
    resolved_parks: list[str] = field(default_factory=list)
    new_count: int = 0
    no_longer_derived_count: int = 0
    new_parks_count: int = 0
    resolved_parks_count: int = 0


async def rebuild(
    log: EventLog,
    outbox: Outbox,
    projectors: Sequence[Projector],
    *,
    dry_run: bool,
    progress: Progress | None = None,
) -> RebuildDiff:
    """Re-derive all commands from position 0; add only what is missing unless ``dry_run``."""
    with Scratch() as scratch:
        scratch.script(_DDL)
        diff = RebuildDiff()
        for projector in projectors:
            await _derive(log, projector, scratch, diff, progress)
        await _copy_outbox(log, scratch)
        _fill(scratch, diff)
        if not dry_run:
            await _write(log, outbox, projectors, scratch)
        return diff


async def _derive(
    log: EventLog,
    projector: Projector,
    scratch: Scratch,
    diff: RebuildDiff,
    progress: Progress | None,
) -> None:
    name = projector.name
    last = 0
    seq = int(scratch.one("SELECT coalesce(max(seq), 0) FROM parks"))
    async for batch in derive_batches(log, projector, scratch):
        scratch.begin()
        commands: list[tuple[str, str, bytes]] = []
        for event, proj in batch:
            commands += [(c.command_id, name, pack(c)) for c in proj.commands]
            for park in proj.parks:
                seq += 1
                # Upsert keeps the first position of a key, as a dict assignment would.
                scratch.execute(
                    "INSERT INTO parks (record_key, seq, projector, park) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (record_key) DO UPDATE SET projector = excluded.projector, "
                    "park = excluded.park",
                    (park.record_key, seq, name, pack(park)),
                )
            for record_key in proj.resolved:
                scratch.execute("DELETE FROM parks WHERE record_key = ?", (record_key,))
            diff.events += 1
            last = event.position
            if progress and diff.events % 5000 == 0:
                progress(name, diff.events)
        scratch.executemany(
            "INSERT INTO derived (command_id, projector, cmd) VALUES (?, ?, ?)", commands
        )
        scratch.commit()
    scratch.execute("INSERT OR REPLACE INTO tracking VALUES (?, ?)", (name, last))


async def _copy_outbox(log: EventLog, scratch: Scratch) -> None:
    """The stored command ids and the open park keys, page by page (keyset on their keys)."""
    after = ""
    while rows := await log.query(
        "SELECT command_id FROM commands WHERE command_id > ? ORDER BY command_id LIMIT ?",
        (after, _PAGE),
    ):
        scratch.executemany("INSERT OR IGNORE INTO stored VALUES (?)", rows)
        after = rows[-1][0]
    park_id = 0
    while rows := await log.query(
        "SELECT id, record_key FROM parked_records WHERE resolved_by IS NULL AND id > ? "
        "ORDER BY id LIMIT ?",
        (park_id, _PAGE),
    ):
        scratch.executemany("INSERT OR IGNORE INTO open_parks VALUES (?)", [(r[1],) for r in rows])
        park_id = rows[-1][0]
    scratch.execute("CREATE INDEX derived_by_id ON derived (command_id)")


def _fill(scratch: Scratch, diff: RebuildDiff) -> None:
    diff.derived = int(scratch.one("SELECT count(*) FROM derived"))
    diff.new_count = int(scratch.one(f"SELECT count(*) {_NEW}"))
    diff.new = [
        unpack(r[0]) for r in scratch.rows(f"SELECT cmd {_NEW} ORDER BY seq LIMIT ?", (SAMPLE,))
    ]
    diff.no_longer_derived_count = int(scratch.one(f"SELECT count(*) {_GONE}"))
    diff.no_longer_derived = [
        str(r[0])
        for r in scratch.rows(
            f"SELECT command_id {_GONE} ORDER BY command_id LIMIT ?", (PARK_SAMPLE,)
        )
    ]
    diff.new_parks_count = int(scratch.one(f"SELECT count(*) {_NEW_PARKS}"))
    diff.new_parks = [
        unpack(r[0])
        for r in scratch.rows(f"SELECT park {_NEW_PARKS} ORDER BY seq LIMIT ?", (PARK_SAMPLE,))
    ]
    diff.resolved_parks_count = int(scratch.one(f"SELECT count(*) {_RESOLVED}"))
    diff.resolved_parks = [
        str(r[0])
        for r in scratch.rows(
            f"SELECT record_key {_RESOLVED} ORDER BY record_key LIMIT ?", (PARK_SAMPLE,)
        )
    ]


async def _write(
    log: EventLog, outbox: Outbox, projectors: Sequence[Projector], scratch: Scratch
) -> None:
    """Add the new commands and parks, close the resolved parks, store the rebuilt state and
    tracking: one transaction, streamed from the scratch database."""
    async with log.transaction() as tx:
        for chunk in scratch.stream(f"SELECT projector, cmd {_NEW} ORDER BY seq", size=500):
            await _add_runs(outbox, tx, [(str(n), unpack(b)) for n, b in chunk])
        for chunk in scratch.stream(f"SELECT projector, park {_NEW_PARKS} ORDER BY seq"):
            for name, blob in chunk:
                await outbox.add_park(tx, unpack(blob), str(name))
        for chunk in scratch.stream(f"SELECT record_key {_RESOLVED} ORDER BY record_key"):
            for (record_key,) in chunk:
                await outbox.resolve_parks(tx, str(record_key), 0)
        for projector in projectors:
            await tx.execute("DELETE FROM projection_state WHERE projector = ?", (projector.name,))
            for page in state_rows(scratch, projector.name):
                await tx.executemany(
                    "INSERT INTO projection_state (projector, key, state) VALUES (?, ?, ?)",
                    [(projector.name, k, v) for k, v in page],
                )
            position = scratch.one(
                "SELECT position FROM tracking WHERE projector = ?", (projector.name,)
            )
            await tx.set_tracking(f"projector:{projector.name}", int(position or 0))


async def _add_runs(outbox: Outbox, tx: Any, rows: list[tuple[str, Command]]) -> None:
    """``add_commands`` per run of consecutive commands of one projector (keeps seq order)."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] != rows[start][0]:
            await outbox.add_commands(tx, [c for _, c in rows[start:i]], rows[start][0])
            start = i
