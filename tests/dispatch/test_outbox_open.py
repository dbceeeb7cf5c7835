"""``open_commands``: the outbox's index of unfinished commands, kept in step with the
append-only history, so ``pending`` and the idle dispatcher cycle cost what is open.

The test drives a real SQLite outbox through seeded random creates, attempts of every outcome
and re-queues, and after every step compares the table with the definition it stands for (the
newest attempt of each command, read from the history itself). An outbox written before the
table existed gets it filled from its history on open.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from engine.commands.outbox import DONE_OUTCOMES, Outbox
from engine.commands.records import NEWEST, AttemptRecord, utc_now
from engine.commands.vocabulary import make_command
from engine.log import SQLiteEventLog

OUTCOMES = ("ok", "exists", "skipped", "retry", "unknown", "parked", "verifying")


async def _open_table(log: SQLiteEventLog) -> set[str]:
    return {r[0] for r in await log.query("SELECT command_id FROM open_commands")}


async def _from_history(log: SQLiteEventLog) -> set[str]:
    rows = await log.query(
        f"SELECT c.command_id, a.outcome FROM commands c LEFT JOIN attempts a ON {NEWEST}"
    )
    return {cid for cid, outcome in rows if outcome not in DONE_OUTCOMES}


async def _attempt(box: Outbox, cid: str, outcome: str) -> None:
    retry_at = utc_now() - timedelta(seconds=1) if outcome in ("retry", "unknown") else None
    await box.record_attempt(
        AttemptRecord(cid, utc_now(), "test", "req", "resp", outcome, retry_at=retry_at)
    )


async def test_open_commands_follow_every_outcome_and_requeue(tmp_path: Path) -> None:
    rng = random.Random(18)
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        box = Outbox(log)
        await box.ensure()
        ids: list[str] = []
        for step in range(300):
            op = rng.random()
            if op < 0.3 or not ids:
                record = f"order-{rng.randrange(40)}"
                cmd = make_command("qad.sales_order.create", "qad", record, record, {"n": step})
                async with log.transaction() as tx:
                    await box.add_commands(tx, [cmd, cmd], "test")  # a repeat adds nothing
                ids.append(cmd.command_id)
            elif op < 0.9:
                await _attempt(box, rng.choice(ids), rng.choice(OUTCOMES))
            else:
                await box.requeue(rng.choice(ids))
            assert await _open_table(log) == await _from_history(log), step
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
        cmds = [make_command("qad.journal.create", "qad", f"s{i}", f"s{i}", {}) for i in range(6)]
        async with log.transaction() as tx:
            await box.add_commands(tx, cmds, "test")
        for cmd, outcome in zip(cmds, ("ok", "parked", "retry", "exists", "skipped"), strict=False):
            await _attempt(box, cmd.command_id, outcome)
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
