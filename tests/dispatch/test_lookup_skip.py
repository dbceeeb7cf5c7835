"""The look-up before create is skipped only when the outbox proves the command was never sent.

Real HTTP against the QAD simulator, outbox in a real SQLite file. The simulator logs every
request, so the tests count the look-ups (GETs of the browse endpoint) QAD actually served.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.adapters.qad import QadClient
from engine.commands.outbox import Outbox
from engine.commands.records import AttemptRecord, utc_now
from engine.commands.vocabulary import make_command
from engine.config import DispatchConfig
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.handlers import qad_handlers
from engine.log import SQLiteEventLog

from .conftest import FAST, ITEMS, add, make_dispatcher, so_create

BROWSES = "/api/qracore/browses"
SO_PATH = "/api/erp/salesOrderHeaders"


def lookups(qad: Any) -> int:
    return sum(1 for method, path in qad.requests if method == "GET" and path == BROWSES)


def so_posts(qad: Any) -> int:
    return sum(1 for method, path in qad.requests if method == "POST" and path == SO_PATH)


def skipping(outbox: Outbox, client: QadClient, config: DispatchConfig = FAST) -> Dispatcher:
    dispatcher = make_dispatcher(outbox, qad_handlers(client), config)
    dispatcher.skip_unsent_lookups = True
    return dispatcher


async def warm_up(qad: Any, outbox: Outbox, client: QadClient) -> None:
    """One order through the engine: the client's look-up is proven and confirmed (a first
    create is always looked up right after, to prove the browse finds what the engine made)."""
    await add(outbox, so_create("ORD-WARM", (ITEMS[0], "1", "1.00")))
    await skipping(outbox, client).run_until_idle(timeout_s=10)
    assert client.lookups.sales_order.confirmed
    qad.requests.clear()


def orders_for(qad: Any, ref: str) -> list[dict[str, Any]]:
    return [so for so in qad.sales_orders() if so["so_po"] == ref]


async def test_fresh_batch_posts_without_a_single_lookup(qad, client, outbox):
    await warm_up(qad, outbox, client)
    refs = [f"ORD-F{i}" for i in range(12)]
    await add(outbox, *(so_create(ref, (ITEMS[i % 3], "2", "4.50")) for i, ref in enumerate(refs)))
    counts = await skipping(outbox, client).run_until_idle(timeout_s=20)
    assert counts.ok == 12 and counts.attempted == 12
    assert lookups(qad) == 0 and so_posts(qad) == 12
    assert all(len(orders_for(qad, ref)) == 1 for ref in refs)
    # The intents are on record: every one of them would be looked up from now on.
    assert not [p for p in await outbox.pending() if p.never_sent]


async def test_without_the_option_every_create_is_looked_up(qad, client, outbox):
    # The default Dispatcher (and replay --to-tenant's) keeps the look-up before every create.
    await warm_up(qad, outbox, client)
    refs = [f"ORD-A{i}" for i in range(6)]
    await add(outbox, *(so_create(ref, (ITEMS[0], "1", "3.00")) for ref in refs))
    counts = await make_dispatcher(outbox, qad_handlers(client)).run_until_idle(timeout_s=20)
    assert counts.ok == 6 and lookups(qad) == 6


async def test_unknown_outcome_is_looked_up_and_never_duplicated(qad, client, outbox):
    await warm_up(qad, outbox, client)
    # QAD commits the header, then stalls past the dispatcher's 0.3 s: outcome unknown.
    qad.faults.add("commit_then_stall", path=SO_PATH, method="POST", delay_s=1.5, times=1)
    await add(outbox, so_create("ORD-UNK", (ITEMS[0], "1", "9.99")))
    cfg = FAST.__class__(**{**{f: getattr(FAST, f) for f in FAST.__slots__}, "timeout_s": 0.3})
    counts = await skipping(outbox, client, cfg).run_until_idle(timeout_s=10)
    assert counts.unknown == 1 and counts.ok == 1
    first, second = (await outbox.history("ORD-UNK"))[0].attempts
    assert first.outcome == "unknown" and second.outcome == "ok"
    assert second.response.startswith("looked up after an unknown outcome")
    assert lookups(qad) >= 1  # the retry looked the reference up before doing anything
    assert so_posts(qad) == 1 and len(orders_for(qad, "ORD-UNK")) == 1


async def test_a_send_whose_attempt_row_was_lost_is_looked_up(qad, client, outbox):
    # What a kill -9 between the send and its attempt row leaves: the intent, QAD's document,
    # no attempt. The next run must find it, not post it again.
    await warm_up(qad, outbox, client)
    cmd = so_create("ORD-LOST", (ITEMS[1], "1", "5.00"))
    await add(outbox, cmd)
    await outbox.record_intents([cmd])
    (pending,) = await outbox.pending()
    assert pending.last_outcome is None and not pending.never_sent
    await qad_handlers(client)[cmd.kind].perform(cmd, False)  # the send that was not recorded
    qad.requests.clear()
    counts = await skipping(outbox, client).run_until_idle(timeout_s=10)
    assert counts.exists == 1 and lookups(qad) >= 1 and so_posts(qad) == 0
    assert len(orders_for(qad, "ORD-LOST")) == 1


async def test_two_commands_naming_one_reference_in_one_page(qad, client, outbox):
    # Two command ids (different bodies, different records) for one QAD reference: only the
    # first may go without a look-up; the second finds it (different content: parked).
    await warm_up(qad, outbox, client)
    a = so_create("ORD-TWIN", (ITEMS[0], "1", "2.00"))
    b = make_command(
        a.kind,
        "qad",
        "other-record",
        a.reference,
        {**a.body, "lines": [{**a.body["lines"][0], "quantity": "7"}]},
    )
    await add(outbox, a, b)
    assert [p.never_sent for p in await outbox.pending()] == [True, True]
    counts = await skipping(outbox, client).run_until_idle(timeout_s=10)
    assert counts.ok == 1 and counts.parked == 1
    assert lookups(qad) == 1 and len(orders_for(qad, "ORD-TWIN")) == 1


async def test_commands_stored_before_intents_existed_count_as_sent(tmp_path: Path):
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        box = Outbox(log)
        await box.ensure()
        cmd = so_create("ORD-OLD", (ITEMS[0], "1", "1.00"))
        await add(box, cmd)
        # An outbox written by an engine without send intents (the table did not exist):
        async with log.transaction() as tx:
            await tx.execute("DROP TABLE sent_references")
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        box = Outbox(log)
        await box.ensure()  # creates the table and counts every stored pair as sent
        (after,) = await box.pending()
        assert not after.never_sent
        new = so_create("ORD-NEW", (ITEMS[0], "1", "1.00"))
        await add(box, new)
        assert {p.command.reference: p.never_sent for p in await box.pending()} == {
            "ORD-OLD": False,
            "ORD-NEW": True,
        }


async def test_attempts_of_one_group_are_numbered_and_closed_together(tmp_path: Path):
    seen: list[int] = []
    async with SQLiteEventLog.open(tmp_path / "events.db") as log:
        box = Outbox(log)
        await box.ensure()

        async def hook(tx: Any, attempts: Any) -> None:
            seen.append(len(attempts))

        box.after_attempts = hook
        cmds = [so_create(f"ORD-G{i}", (ITEMS[0], "1", "1.00")) for i in range(5)]
        await add(box, *cmds)
        soon = utc_now() - timedelta(seconds=1)

        def attempt(cid: str, outcome: str) -> AttemptRecord:
            retry_at = soon if outcome == "retry" else None
            return AttemptRecord(cid, utc_now(), "t", "req", "resp", outcome, retry_at=retry_at)

        # Recorded concurrently: one group commit (the hook sees them together), and one
        # command twice in the group: numbered 1 and 2, its state from the newer row.
        rows = await asyncio.gather(
            *(box.record_attempt(attempt(c.command_id, "ok")) for c in cmds[:3]),
            box.record_attempt(attempt(cmds[3].command_id, "retry")),
            box.record_attempt(attempt(cmds[3].command_id, "ok")),
            box.record_attempt(attempt(cmds[4].command_id, "retry")),
        )
        assert [r.attempt for r in rows] == [1, 1, 1, 1, 2, 1]
        assert sum(seen) == 6 and max(seen) > 1
        open_ids = {r[0] for r in await log.query("SELECT command_id FROM open_commands")}
        assert open_ids == {cmds[4].command_id}
        (due,) = await box.pending()
        assert due.command.command_id == cmds[4].command_id and due.tries == 1


class _Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no attempt row is written."""


async def test_the_dispatcher_records_the_intent_before_sending(qad, client, outbox):
    await warm_up(qad, outbox, client)
    await add(outbox, so_create("ORD-KILL", (ITEMS[2], "1", "6.00")))
    record = outbox.record_attempt

    async def killed(attempt: AttemptRecord) -> AttemptRecord:
        raise _Killed

    outbox.record_attempt = killed  # type: ignore[method-assign]
    with contextlib.suppress(_Killed):
        await skipping(outbox, client).run_once()
    outbox.record_attempt = record  # type: ignore[method-assign]
    assert so_posts(qad) == 1 and await outbox.history("ORD-KILL")  # posted, nothing recorded
    assert [a for h in await outbox.history("ORD-KILL") for a in h.attempts] == []
    (pending,) = await outbox.pending()
    assert not pending.never_sent  # the intent was committed before the post
    counts = await skipping(outbox, client).run_until_idle(timeout_s=10)
    assert counts.exists == 1 and so_posts(qad) == 1
    assert len(orders_for(qad, "ORD-KILL")) == 1
