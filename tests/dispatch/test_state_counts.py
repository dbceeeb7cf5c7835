"""Trigger-kept counts (issue 18: ``status`` and ``/metrics`` flat in history).

Command states per (target, kind) and events per stream are kept by SQLite triggers beside the
append-only tables. The tests drive a real outbox and log through seeded random writes of every
kind and, after every step, compare the counts with their definition read from the history
itself; files written before the counts existed get them filled once on a writing open, and
``log check`` names counts that no longer match.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from pathlib import Path

from engine.commands.outbox import Outbox
from engine.commands.records import NEWEST
from engine.commands.vocabulary import make_command
from engine.log import SQLiteEventLog
from engine.log.backup import check
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from tests.dispatch.outbox_walk import attempt, six_journals, walked

OUTCOMES = ("ok", "exists", "skipped", "retry", "unknown", "parked", "verifying")
KINDS = ("qad.sales_order.create", "qad.inventory.adjust", "qad.journal.create")


def _scan_counts(con_rows: list[tuple[str, str, str, str | None]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for _target, kind, outcome, response in con_rows:
        state = outcome or "new"
        if state == "skipped" and (response or "").startswith("drift"):
            state = "skipped:drift"
        if state == "skipped" and (response or "").startswith("not applied"):
            state = "skipped:not-applied"
        out[(kind, state)] = out.get((kind, state), 0) + 1
    return out


async def _from_history(log: EventLog) -> dict[tuple[str, str], int]:
    rows = await log.query(
        f"SELECT c.target, c.kind, a.outcome, a.response FROM commands c LEFT JOIN attempts a "
        f"ON {NEWEST}"
    )
    return _scan_counts([(str(r[0]), str(r[1]), r[2], r[3]) for r in rows])


async def _kept(log: EventLog) -> dict[tuple[str, str], int]:
    rows = await log.query(
        "SELECT kind, state, sum(n) FROM command_state_counts GROUP BY 1, 2 HAVING sum(n) != 0"
    )
    return {(str(k), str(s)): int(n) for k, s, n in rows}


async def test_command_counts_follow_every_outcome_requeue_and_drift(log_target: str) -> None:
    responses = ("drift +3 (QAD 5, Amazon 8)", "not applied in 1 h", "r")
    walk = walked(log_target, 1818, 400, _kept, _from_history, kinds=KINDS, responses=responses)
    async with walk as (log, box):
        counts = await box.counts()
        history = await _from_history(log)
        for kind in KINDS:
            want = {s.split(":")[0]: 0 for (k, s) in history if k == kind}
            for (k, s), n in history.items():
                if k == kind:
                    want[s.split(":")[0]] += n
            assert counts.by_kind.get(kind, {}) == {s: n for s, n in want.items() if n}
        for kind in KINDS:
            flagged = {s: n for (k, s), n in history.items() if k == kind and ":" in s and n}
            assert counts.flagged_skips.get(kind, {}) == flagged


async def test_outbox_from_before_the_counts_is_counted_once_on_open(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path) as log:
        box = Outbox(log)
        await box.ensure()
        cmds = await six_journals(box)
        want = await box.counts()
    con = sqlite3.connect(path)  # what an outbox of an earlier release looks like
    con.executescript(
        "DROP TRIGGER commands_count_new; DROP TRIGGER attempts_count_state; "
        "DROP TABLE command_state_counts;"
    )
    con.close()
    async with SQLiteEventLog.open(path, readonly=True) as log:
        assert await Outbox(log).counts() == want  # counted from the tables, nothing written
    async with SQLiteEventLog.open(path) as log:
        box = Outbox(log)
        await box.ensure()
        await box.ensure()  # a second open counts nothing twice
        assert await box.counts() == want
        assert await _kept(log) == await _from_history(log)
        await attempt(box, cmds[2].command_id, "ok")
        assert await _kept(log) == await _from_history(log)


SOURCES = ("sp-api:NA:searchOrders", "sp-api:EU", "sp-api:FE:report:9", "import:f.tsv", "qad:x")


def _region(source: str) -> str:
    """The definition, in Python: the second field of an ``sp-api:`` source, else ''."""
    return source.split(":")[1] if source.startswith("sp-api:") else ""


async def _stream_stats(log: SQLiteEventLog) -> dict[tuple[str, str], tuple[int, int]]:
    rows = await log.query("SELECT stream, region, events, last_position FROM stream_stats")
    return {(str(s), str(r)): (int(n), int(p)) for s, r, n, p in rows}


async def _streams_from_events(log: SQLiteEventLog) -> dict[tuple[str, str], tuple[int, int]]:
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for stream, source, position in await log.query("SELECT stream, source, position FROM events"):
        key = (str(stream), _region(str(source)))
        n, last = out.get(key, (0, 0))
        out[key] = (n + 1, max(last, int(position)))
    return out


async def test_stream_counts_follow_appends_duplicates_and_rollbacks(tmp_path: Path) -> None:
    rng = random.Random(20)
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        for step in range(60):
            stream = rng.choice(("amazon.orders", "amazon.settlements", "amazon.inventory"))
            batch = [
                NewEvent(stream, "T", f"k{rng.randrange(80)}", {"v": 1}, rng.choice(SOURCES))
                for _ in range(5)
            ]
            if step % 7 == 3:  # a transaction that fails after appending: nothing counts
                try:
                    async with log.transaction() as tx:
                        await tx.append(batch)
                        raise RuntimeError("abandoned")
                except RuntimeError:
                    pass
            else:
                await log.append(batch)  # repeats of a key+digest are duplicates, not counted
            assert await _stream_stats(log) == await _streams_from_events(log), step


async def test_commands_are_counted_in_the_region_of_their_first_event(log_target: str) -> None:
    rng = random.Random(7)
    async with open_event_log(log_target) as log:
        box = Outbox(log)
        await box.ensure()
        await log.append(
            [NewEvent("amazon.orders", "T", f"o{i}", {}, SOURCES[i % 5]) for i in range(20)]
        )
        sources = {
            int(p): str(src) for p, src in await log.query("SELECT position, source FROM events")
        }
        ids = []
        for i in range(40):
            positions = (rng.randrange(1, 21),) if i % 6 else ()  # some name no event
            cmd = make_command("qad.sales_order.create", "qad", f"r{i}", f"r{i}", {"i": i})
            cmd = dataclasses.replace(cmd, positions=positions)
            async with log.transaction() as tx:
                await box.add_commands(tx, [cmd], "test")
            ids.append((cmd.command_id, _region(sources[positions[0]]) if positions else ""))
        want: dict[tuple[str, str], int] = {}
        for cid, region in ids:
            outcome = rng.choice(("ok", "parked", "retry", None))
            if outcome:
                await attempt(box, cid, outcome)
            key = (region, outcome or "new")
            want[key] = want.get(key, 0) + 1
        counts = await box.counts()
        got = {
            (region, state): n
            for (kind, region), by_state in counts.by_kind_region.items()
            for state, n in by_state.items()
            if n
        }
        assert got == want
        assert {r for r, _ in got} >= {"NA", "EU", "FE", ""}


async def test_log_from_before_the_counts_migrates_and_check_names_a_mismatch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path) as log:
        await log.append([NewEvent("s", "T", f"k{i}", {"i": i}) for i in range(50)])
    con = sqlite3.connect(path)  # back to schema version 1
    con.executescript("DROP TRIGGER events_count; DROP TABLE stream_stats; PRAGMA user_version=1;")
    con.close()
    async with SQLiteEventLog.open(path) as log:
        assert await _stream_stats(log) == {("s", ""): (50, 50)}
        await log.append([NewEvent("t", "T", "x", {})])
        assert await _stream_stats(log) == await _streams_from_events(log)
    assert check(path).problems == []
    con = sqlite3.connect(path)
    con.execute("UPDATE stream_stats SET events = 7 WHERE stream = 's'")
    con.commit()
    con.close()
    assert any("stream_stats" in p for p in check(path).problems)
