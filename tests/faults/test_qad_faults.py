"""QAD faults: 401 mid-run, 5xx bursts, latency past the timeout, timeouts *after* commit
(unknown outcome: look up, never post twice), one record rejected (parked with QAD's text)."""

from __future__ import annotations

import pytest

from engine.log import SQLiteEventLog
from engine.sim.qad.snapshot import diff_snapshots
from tests.faults.conftest import attempt_outcomes, faulted_run, parked

SO = "salesOrderHeaders"
# The receipt's commit, not its validation steps (a lost step answer is an ordinary retry).
RECEIPT = "unplannedReceives$"
# The commit of a sales order's lines (after the header; its initialize is a GET).
LINES = "salesOrderLinesGrid$"
WRITES = [SO, LINES, "journalEntries", "customerInvoices", RECEIPT]


@pytest.mark.parametrize("path", [SO, "journalEntries"])
async def test_qad_401_mid_run(make_world, ref_books, path) -> None:
    """Every access token is revoked before a write: log in again, carry on."""
    ref = await ref_books()
    async with make_world() as w:
        w.qad.faults.add("expire_tokens", path=path, method="POST", times=1)
        await faulted_run(w, ref)


@pytest.mark.parametrize(("path", "status"), [(SO, 429), (SO, 503), ("customerInvoices", 500)])
async def test_qad_error_burst(make_world, ref_books, path, status) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.qad.faults.add("status", path=path, method="POST", status=status, times=3)
        await faulted_run(w, ref)


@pytest.mark.parametrize(("path", "method"), [(SO, "POST"), ("browses", "GET")])
async def test_qad_latency_past_timeout_before_commit(make_world, ref_books, path, method) -> None:
    ref = await ref_books()
    async with make_world() as w:
        w.qad.faults.add("latency", path=path, method=method, delay_s=1.5, times=2)
        await faulted_run(w, ref, qad_timeout_s=0.7)


@pytest.mark.parametrize("path", [SO, "journalEntries", RECEIPT])
async def test_qad_connection_dropped_before_commit(make_world, ref_books, path) -> None:
    """No answer and nothing committed: the look-up finds nothing, the post is sent again once."""
    ref = await ref_books()
    async with make_world() as w:
        w.qad.faults.add("drop", path=path, method="POST", times=2)
        await faulted_run(w, ref)
        outcomes = await attempt_outcomes(w.last_cfg)
        assert outcomes["unknown"] == 2, outcomes
        # Each look-up found nothing, so the document was created afresh, exactly once (the
        # books comparison above proves there is no duplicate).
        async with SQLiteEventLog.open(w.last_cfg.engine.db, readonly=True) as log:
            [(created,)] = await log.query(
                "SELECT count(*) FROM attempts WHERE outcome = 'ok' AND response LIKE "
                "'looked up after an unknown outcome: % created%'"
            )
        assert created == 2


@pytest.mark.parametrize(
    ("kind", "path"),
    [("commit_then_stall", p) for p in WRITES]
    + [("commit_then_drop", SO), ("commit_then_drop", "journalEntries")]
    + [("commit_then_truncate", SO), ("commit_then_truncate", RECEIPT)]
    + [("commit_then_drop", LINES)],
)
async def test_qad_unknown_outcome_after_commit(make_world, ref_books, kind, path) -> None:
    """QAD commits, the answer never arrives: the engine must find the document, not repost."""
    ref = await ref_books()
    async with make_world() as w:
        w.qad.faults.add(kind, path=path, method="POST", delay_s=1.5, times=2)
        await faulted_run(w, ref, qad_timeout_s=0.7)
        outcomes = await attempt_outcomes(w.last_cfg)
        # Each faulted write was resolved by looking the document up (in the client, or by the
        # dispatcher on the next attempt), never by posting it again.
        assert outcomes["recovered"] >= 2, outcomes


@pytest.mark.parametrize("path", [SO, "journalEntries", "customerInvoices"])
async def test_qad_stall_outlives_the_dispatcher_deadline(make_world, ref_books, path) -> None:
    """The dispatcher's deadline (also the HTTP session's) is shorter than the QAD client's:
    whichever layer gives up, the document is found by look-up, never posted twice."""
    ref = await ref_books()
    async with make_world() as w:
        w.qad.faults.add("commit_then_stall", path=path, method="POST", delay_s=2.0, times=2)
        await faulted_run(w, ref, qad_timeout_s=5.0, cfg={"dispatch": {"timeout_s": 0.8}})
        outcomes = await attempt_outcomes(w.last_cfg)
        assert outcomes["recovered"] >= 2, outcomes


@pytest.mark.parametrize(
    ("kind", "path", "message"),
    [
        ("sales_orders", SO, "Customer credit limit exceeded for order"),
        ("journals", "journalEntries", "GL period is closed for entity 10"),
    ],
)
async def test_qad_rejects_one_record(make_world, ref_books, kind, path, message) -> None:
    """A business error on one document parks that record with QAD's text; the rest flows.

    (A rejected settlement journal leaves that settlement's AR invoice posted: the park is the
    visible to-do; QAD cannot take the two documents atomically.)
    """
    ref = await ref_books()
    docs = getattr(ref, kind)
    victim = sorted(docs)[len(docs) // 2]
    key = victim.removeprefix("AMZ-STL-")
    async with make_world() as w:
        w.qad.faults.add(
            "business_error", path=path, method="POST", reference=key, message=message, times=0
        )
        cfg = w.config()
        await w.converge(cfg)
        d = diff_snapshots(ref, w.books())
        assert (d["lost"], d["duplicated"], d["mismatched"]) == (1, 0, 0), d
        assert d["examples"] == [f"{kind} {victim}: missing"]
        items = await parked(cfg)
        assert [k for k, _ in items if key in k], items
        assert all(message in reason for k, reason in items if key in k), items
        assert not [k for k, _ in items if key not in k], items


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("status", "oauth/token"),
        ("status", "securityControl"),
        ("commit_then_truncate", "oauth"),
        ("status", "salesOrderHeaders"),  # the start-up path probe
        ("status", "browses"),
    ],
)
async def test_qad_blip_while_logging_in(make_world, ref_books, kind, path) -> None:
    """A transient failure during the start-up login/probe must not abort the run."""
    ref = await ref_books()
    async with make_world() as w:
        w.qad.faults.add(kind, path=path, status=503, times=2)
        await faulted_run(w, ref)
