"""``open_commands``: the outbox's index of unfinished commands, kept in step with the
append-only history, so ``pending`` and the idle dispatcher cycle cost what is open.

The test drives a real SQLite outbox through seeded random creates, attempts of every outcome
and re-queues, and after every step compares the table with the definition it stands for (the
newest attempt of each command, read from the history itself). An outbox written before the
table existed gets it filled from its history on open.
"""

from __future__ import annotations

from pathlib import Path

from engine.commands.outbox import DONE_OUTCOMES, Outbox
from engine.commands.records import NEWEST
from engine.log import SQLiteEventLog
from engine.log.ports import EventLog
from tests.dispatch.outbox_walk import six_journals, walked

OUTCOMES = ("ok", "exists", "skipped", "retry", "unknown", "parked", "verifying")


async def _open_table(log: EventLog) -> set[str]:
    return {r[0] for r in await log.query("SELECT command_id FROM open_commands")}


async def _from_history(log: EventLog) -> set[str]:
    rows = await log.query(
        f"SELECT c.command_id, a.outcome FROM commands c LEFT JOIN attempts a ON {NEWEST}"
    )
    return {cid for cid, outcome in rows if outcome not in DONE_OUTCOMES}


async def test_open_commands_follow_every_outcome_and_requeue(log_target: str) -> None:
    async with walked(log_target, 18, 300, _open_table, _from_history) as (log, box):
        # pending honours per-record order exactly as the history says
        due = await box.pending()
        open_ids = await _from_history(log)
        assert {p.command.command_id for p in due} <= open_ids
        keys = [p.command.record_key for p in due]
        assert len(keys) == len(set(keys))  # at most the oldest unfinished one per record


async def test_outbox_from_before_the_table_is_filled_from_its_history(tmp_path: Path) -> None:
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        box = Outbox(log)
        await box.ensure()
        cmds = await six_journals(box)
        want = await _open_table(log)
        assert want == {cmds[1].command_id, cmds[2].command_id, cmds[5].command_id}
        async with log.transaction() as tx:  # what an outbox of an earlier release looks like
            await tx.execute("DROP TABLE open_commands")
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        box = Outbox(log)
        await box.ensure()
        assert await _open_table(log) == want
        assert [p.command.command_id for p in await box.pending()] == [
            cmds[2].command_id,
            cmds[5].command_id,
        ]
