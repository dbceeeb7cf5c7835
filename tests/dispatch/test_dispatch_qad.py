"""Dispatcher over real HTTP against the QAD simulator, outbox in a real SQLite file."""

from __future__ import annotations

import dataclasses
import sqlite3
from decimal import Decimal
from typing import Any

import pytest

from engine.adapters.qad import QadBrowses, QadClient
from engine.commands.outbox import Outbox
from engine.commands.vocabulary import Park, make_command
from engine.errors import StoreError

from .conftest import FAST, ITEMS, TODAY, add, qad_settings, so_create, so_update

SO_PATH = "/api/erp/salesOrderHeaders"


async def outcomes(outbox: Outbox, key: str) -> list[list[str]]:
    return [[a.outcome for a in h.attempts] for h in await outbox.history(key)]


def qad_orders(qad: Any, ref: str) -> list[dict[str, Any]]:
    return [so for so in qad.sales_orders() if so["so_po"] == ref]


async def test_each_command_kind_posts_its_qad_document(qad, client, outbox, dispatcher_for):
    invoice = {
        "reference": "AMZ-STL-111",
        "customer": "AMZ-US",
        "invoice_date": TODAY,
        "due_date": TODAY,
        "currency": "USD",
        "amount": "80.00",
        "description": "Amazon settlement 111",
        "lines": [{"account": "1250", "amount": "80.00", "description": "deposit"}],
    }
    journal = {
        "reference": "AMZ-STL-111",
        "posting_date": TODAY,
        "currency": "USD",
        "description": "Amazon settlement 111",
        "lines": [
            {"account": "1250", "debit": "100.00", "credit": "0", "description": "clearing"},
            {"account": "4000", "debit": "0", "credit": "100.00", "description": "principal"},
        ],
    }

    def align(item: str, site: str, target: str, mode: str) -> Any:
        ref = f"AMZ-FBA-ATVPDKIKX0DER-1-{item}-{site}"
        body = {
            "reference": ref,
            "item": item,
            "site": site,
            "target": target,
            "mode": mode,
            "effective_date": TODAY,
            "sku": "MLC",
            "marketplace_id": "ATVPDKIKX0DER",
        }
        return make_command("qad.inventory.align", "qad", f"sku-{item}-{site}", ref, body)

    await add(
        outbox,
        so_create("111-0000001-0000001", (ITEMS[0], "2", "19.99"), (ITEMS[1], "1", "5.00")),
        so_update("111-0000001-0000001", 1, "3", "19.99"),
        make_command("qad.invoice.create", "qad", "111", "AMZ-STL-111", invoice),
        make_command("qad.journal.create", "qad", "111", "AMZ-STL-111", journal),
        align(ITEMS[2], "10-FBA", "97", "adjust"),  # 100 -> 97: unplanned issue of 3
        align(ITEMS[3], "10-FBA", "104", "adjust"),  # unplanned receipt of 4
        align(ITEMS[4], "10-100", "90", "report"),  # only reported
        align(ITEMS[5], "10-100", "100", "adjust"),  # already in line
    )
    counts = await dispatcher_for(client).run_once()
    assert counts.ok == 6 and counts.skipped == 2 and counts.attempted == 8

    (so,) = qad_orders(qad, "111-0000001-0000001")
    assert [(ln["sod_part"], ln["sod_qty_ord"]) for ln in so["lines"]] == [
        (ITEMS[0], Decimal(3)),
        (ITEMS[1], Decimal(1)),
    ]
    (inv,) = [i for i in qad.invoices() if i["ar_po"] == "AMZ-STL-111"]
    assert inv["ar_amt"] == Decimal("80.00") and inv["ar_cust"] == "AMZ-US"
    (je,) = [j for j in qad.journal_entries() if "AMZ-STL-111" in str(j)]
    assert len(je["lines"]) == 2
    assert qad.on_hand(ITEMS[2], "10-FBA") == 97
    assert qad.on_hand(ITEMS[3], "10-FBA") == 104
    assert qad.on_hand(ITEMS[4], "10-100") == 100  # report mode never writes

    hist = {h.command.kind + h.command.record_key: h for h in await outbox.history("111")}
    create = (await outbox.history("111-0000001-0000001"))[0]
    assert create.attempts[0].document == so["so_nbr"]
    assert create.attempts[0].endpoint == (
        "POST api/erp/salesOrderHeaders + api/erp/salesOrderLinesGrid"
    )
    align_attempt = (await outbox.history(f"sku-{ITEMS[2]}-10-FBA"))[0].attempts[0]
    assert align_attempt.endpoint == (
        "GET api/qracore/browses?browseId=urn:browse:mfg:gp164 + POST "
        "api/erp/unplannedReceives|api/erp/unplannedIssues"
    )
    assert "AMZ-US" in create.attempts[0].request
    assert hist["qad.invoice.create111"].attempts[0].document
    report = (await outbox.history(f"sku-{ITEMS[4]}-10-100"))[0].attempts[0]
    assert report.outcome == "skipped" and report.response.startswith("drift -10")

    # Nothing is due any more, and a second run posts nothing.
    again = await dispatcher_for(client).run_once()
    assert again.attempted == 0
    assert len(qad_orders(qad, "111-0000001-0000001")) == 1


async def prove_sales_order_look_up(outbox: Outbox, dispatcher_for: Any, client: Any) -> None:
    """The simulator starts without orders, so its look-up is unproven until a first order."""
    await add(outbox, so_create("ORD-FIRST", (ITEMS[0], "1", "9.99")))
    assert (await dispatcher_for(client).run_once()).ok == 1
    assert client.lookup_states()["sales_order"] == "proven"


async def test_retriable_500_and_503_are_retried_and_end_ok(qad, client, outbox, dispatcher_for):
    await prove_sales_order_look_up(outbox, dispatcher_for, client)
    qad.faults.add("status", path=SO_PATH, method="POST", status=500, reference="ORD-500")
    qad.faults.add("status", path=SO_PATH, method="POST", status=503, reference="ORD-503")
    await add(
        outbox,
        so_create("ORD-500", (ITEMS[0], "1", "9.99")),
        so_create("ORD-503", (ITEMS[0], "1", "9.99")),
    )
    counts = await dispatcher_for(client).run_until_idle(timeout_s=10)
    assert counts.ok == 2
    # 500 on a write: the client cannot know whether it was applied -> unknown, looked up.
    assert await outcomes(outbox, "ORD-500") == [["unknown", "ok"]]
    assert await outcomes(outbox, "ORD-503") == [["retry", "ok"]]
    second = (await outbox.history("ORD-500"))[0].attempts[1]
    assert second.response.startswith("looked up after an unknown outcome")
    assert len(qad_orders(qad, "ORD-500")) == 1 and len(qad_orders(qad, "ORD-503")) == 1


async def test_business_rejection_parks_that_command_and_others_flow(
    qad, client, outbox, dispatcher_for
):
    qad.faults.add(
        "business_error",
        reference="ORD-BAD",
        times=0,
        message="Customer credit hold: order not accepted",
    )
    await add(
        outbox,
        so_create("ORD-A", (ITEMS[0], "1", "9.99")),
        so_create("ORD-BAD", (ITEMS[0], "1", "9.99")),
        so_update("ORD-BAD", 1, "2", "9.99"),  # held back behind its parked create
        so_create("ORD-C", (ITEMS[1], "1", "9.99")),
    )
    counts = await dispatcher_for(client).run_until_idle(timeout_s=10)
    assert counts.ok == 2 and counts.parked == 1
    assert await outcomes(outbox, "ORD-BAD") == [["parked"], []]
    (parked,) = [p for p in await outbox.parked() if p.kind == "command"]
    assert "Customer credit hold" in parked.reason and parked.record_key == "ORD-BAD"
    assert qad_orders(qad, "ORD-BAD") == []
    assert len(qad_orders(qad, "ORD-A")) == 1 and len(qad_orders(qad, "ORD-C")) == 1

    # The fault is fixed; replay --parked posts the create, then its update, in order.
    qad.faults.clear()
    assert await outbox.requeue_parked() == [parked.command_id]
    counts = await dispatcher_for(client).run_until_idle(timeout_s=10)
    assert counts.ok == 2
    assert await outcomes(outbox, "ORD-BAD") == [["parked", "requeued", "ok"], ["ok"]]
    (so,) = qad_orders(qad, "ORD-BAD")
    assert so["lines"][0]["sod_qty_ord"] == 2


@pytest.mark.parametrize("fault", ["commit_then_stall", "commit_then_drop"])
async def test_unknown_outcome_inside_client_is_recovered_without_duplicate(
    qad, client, outbox, dispatcher_for, fault
):
    # Client timeout is 1 s; the simulator commits, then stalls 2 s or drops the connection.
    qad.faults.add(fault, path=SO_PATH, method="POST", delay_s=2.0)
    await add(outbox, so_create("ORD-U", (ITEMS[0], "1", "9.99")))
    counts = await dispatcher_for(client).run_until_idle(timeout_s=10)
    assert counts.unknown + counts.ok + counts.exists >= 1
    assert len(qad_orders(qad, "ORD-U")) == 1
    final = (await outbox.history("ORD-U"))[0].attempts[-1]
    assert (
        final.outcome in ("ok", "exists")
        and final.document == qad_orders(qad, "ORD-U")[0]["so_nbr"]
    )
    assert qad.faults.fired and qad.faults.fired[0][0] == fault


async def test_dispatcher_timeout_is_unknown_then_looked_up_not_reposted(
    qad, client, outbox, dispatcher_for
):
    # The dispatcher gives up after 0.3 s while QAD has already committed (stall 1.5 s).
    qad.faults.add("commit_then_stall", path=SO_PATH, method="POST", delay_s=1.5)
    await add(outbox, so_create("ORD-T", (ITEMS[0], "1", "9.99")))
    cfg = FAST.__class__(**{**{f: getattr(FAST, f) for f in FAST.__slots__}, "timeout_s": 0.3})
    counts = await dispatcher_for(client, cfg).run_until_idle(timeout_s=10)
    assert counts.unknown == 1 and counts.ok == 1
    first, second = (await outbox.history("ORD-T"))[0].attempts
    assert first.outcome == "unknown" and "outcome unknown" in first.response
    # QAD had the header, the lines never came: the header is found by its PO and completed.
    assert second.outcome == "ok" and second.response.startswith(
        "looked up after an unknown outcome: sales order"
    )
    assert "completed: 1 missing line(s) added" in second.response
    (so,) = qad_orders(qad, "ORD-T")
    assert second.document == so["so_nbr"] and len(so["lines"]) == 1


async def test_update_never_overtakes_its_create(qad, client, outbox, dispatcher_for):
    qad.faults.add("status", path=SO_PATH, method="POST", status=503, reference="ORD-O")
    await add(
        outbox, so_create("ORD-O", (ITEMS[0], "1", "9.99")), so_update("ORD-O", 1, "5", "9.99")
    )
    slow = FAST.__class__(
        **{**{f: getattr(FAST, f) for f in FAST.__slots__}, "retry_base_s": 0.5, "retry_cap_s": 0.5}
    )
    dispatcher = dispatcher_for(client, slow)
    dispatcher.policy.rng.uniform = lambda a, b: b  # type: ignore[method-assign]
    first = await dispatcher.run_once()
    assert first.retry == 1 and first.attempted == 1  # the update was not even tried
    assert await outcomes(outbox, "ORD-O") == [["retry"], []]
    await dispatcher.run_until_idle(timeout_s=10)
    create, update = await outbox.history("ORD-O")
    assert [a.outcome for a in create.attempts] == ["retry", "ok"]
    assert [a.outcome for a in update.attempts] == ["ok"]
    assert update.attempts[0].at >= create.attempts[-1].at
    assert update.seq > create.seq
    (so,) = qad_orders(qad, "ORD-O")
    assert so["lines"][0]["sod_qty_ord"] == 5


async def test_attempts_are_append_only(qad, client, outbox, dispatcher_for, log_target):
    qad.faults.add("status", path=SO_PATH, method="POST", status=503, times=2)
    await add(outbox, so_create("ORD-AO", (ITEMS[0], "1", "9.99")))
    dispatcher = dispatcher_for(client)
    await dispatcher.run_once()
    before = await outbox.log.query("SELECT * FROM attempts ORDER BY id")
    await dispatcher.run_until_idle(timeout_s=10)
    after = await outbox.log.query("SELECT * FROM attempts ORDER BY id")
    assert after[: len(before)] == before and len(after) == 3
    async with outbox.log.transaction() as tx:
        await outbox.add_park(tx, Park("ORD-P", 1, "unmapped SKU X"), "orders")
    for sql, params in (
        ("UPDATE attempts SET outcome = 'ok'", ()),
        ("DELETE FROM attempts", ()),
        ("UPDATE commands SET body = ?", (b"",)),
        ("DELETE FROM parked_records", ()),
    ):
        with pytest.raises(StoreError, match="append-only"):
            async with outbox.log.transaction() as tx:
                await tx.execute(sql, params)
    assert await outbox.log.query("SELECT * FROM attempts ORDER BY id") == after
    # Also refused to a plain connection of the database's own (the guard is in the database).
    if outbox.log.capabilities.backend == "postgresql":
        import psycopg

        with psycopg.connect(log_target) as pg, pytest.raises(psycopg.errors.RaiseException):
            pg.execute("TRUNCATE attempts")
        return
    conn = sqlite3.connect(log_target)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE attempts SET response = 'x'")
    finally:
        conn.close()


async def test_dispatcher_timeout_through_an_unproven_look_up_is_never_reposted(
    qad, session, outbox, dispatcher_for
):
    # A sales-order browse the tenant does not know answers no rows: the look-up is unproven.
    # The first attempt is cut off while QAD commits; the retry may not trust "not found".
    browses = dataclasses.replace(QadBrowses(), sales_order="urn:browse:mfg:zz999")
    settings = dataclasses.replace(qad_settings(qad, timeout_s=5.0), browses=browses)
    qad.faults.add("commit_then_stall", path=SO_PATH, method="POST", delay_s=1.5)
    await add(outbox, so_create("ORD-UP", (ITEMS[0], "1", "9.99")))
    cfg = FAST.__class__(**{**{f: getattr(FAST, f) for f in FAST.__slots__}, "timeout_s": 0.3})
    async with QadClient(session, settings) as client:
        counts = await dispatcher_for(client, cfg).run_until_idle(timeout_s=10)
    # Every retry stays "unknown" (looked up, never posted blind) until the budget is spent.
    assert counts.parked == 1
    (row,) = await outcomes(outbox, "ORD-UP")
    assert row[-1] == "parked" and set(row[:-1]) == {"unknown"}
    (parked,) = [p for p in await outbox.parked() if p.kind == "command"]
    assert "not proven" in parked.reason and "qad.browses.sales_order" in parked.reason
    assert len(qad_orders(qad, "ORD-UP")) == 1
    assert sum(1 for m, p in qad.requests if m == "POST" and p == SO_PATH) == 1
