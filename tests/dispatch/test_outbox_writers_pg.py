"""Several engines adding commands to one PostgreSQL outbox at once: none lost, seq gap-free.

On SQLite one writer holds the file, so ``seq = max(seq) + 1`` cannot race. On PostgreSQL two
processes' transactions can; without the outbox's advisory lock both would take the same seq and
one command would fail (or, under a bare ON CONFLICT DO NOTHING, vanish). Two separately opened
logs (two pools, as two worker processes have) write interleaved small transactions here.
"""

from __future__ import annotations

import asyncio

from engine.commands.outbox import Outbox
from engine.commands.vocabulary import make_command
from engine.log.opening import open_event_log


async def _writer(dsn: str, name: str, n: int, start: asyncio.Event) -> list[str]:
    async with open_event_log(dsn) as log:
        box = Outbox(log)
        await box.ensure()
        await start.wait()
        ids = []
        for i in range(0, n, 2):
            cmds = [
                make_command("qad.journal.create", "qad", f"{name}-{j}", f"{name}-{j}", {"j": j})
                for j in (i, i + 1)
            ]
            async with log.transaction() as tx:
                assert await box.add_commands(tx, cmds, name) == 2
            ids += [c.command_id for c in cmds]
            await asyncio.sleep(0)
        return ids


async def test_concurrent_writers_lose_no_command_and_keep_seq_gap_free(pg_dsn: str) -> None:
    start = asyncio.Event()
    tasks = [asyncio.create_task(_writer(pg_dsn, f"w{k}", 60, start)) for k in range(4)]
    await asyncio.sleep(0.5)  # every writer open and waiting
    start.set()
    written = [cid for ids in await asyncio.gather(*tasks) for cid in ids]
    async with open_event_log(pg_dsn, readonly=True) as log:
        rows = await log.query("SELECT command_id, seq FROM commands ORDER BY seq")
        open_rows = await log.query("SELECT count(*) FROM open_commands")
        counts = await log.query("SELECT sum(n) FROM command_state_counts WHERE state = 'new'")
    assert sorted(r[0] for r in rows) == sorted(written) and len(written) == 240
    assert [int(r[1]) for r in rows] == list(range(1, 241))
    assert int(open_rows[0][0]) == 240 and int(counts[0][0]) == 240
    # Commit order is seq order per writer: each writer's commands keep their own order.
    for k in range(4):
        mine = [int(r[1]) for r in rows if r[0].split(":")[1].startswith(f"w{k}-")]
        assert mine == sorted(mine)


async def test_a_command_added_twice_by_two_writers_is_stored_once(pg_dsn: str) -> None:
    repeat = 2
    cmd = make_command("qad.journal.create", "qad", "same", "same", {"x": 1})

    async def add() -> int:
        async with open_event_log(pg_dsn) as log:
            box = Outbox(log)
            await box.ensure()
            async with log.transaction() as tx:
                return await box.add_commands(tx, [cmd], "p")

    added = await asyncio.gather(*(add() for _ in range(repeat)))
    async with open_event_log(pg_dsn, readonly=True) as log:
        rows = await log.query("SELECT command_id FROM commands")
    assert sorted(added) == [0, 1] and [r[0] for r in rows] == [cmd.command_id]
