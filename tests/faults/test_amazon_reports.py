"""Report faults: FATAL and CANCELLED outcomes, the pre-signed document URL expiring."""

from __future__ import annotations

import pytest

from tests.faults.conftest import faulted_run


@pytest.mark.parametrize("outcome", ["FATAL", "CANCELLED"])
async def test_report_ends_badly(make_world, ref_books, outcome) -> None:
    """The MFN listings report ends FATAL/CANCELLED once: that flow waits for the next cycle
    (it must not read 'no stock' into it); the next report is fine."""
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("report_outcome", operation="createReport", outcome=outcome)
        reports = await faulted_run(w, ref, passes=None)
        assert len(reports) <= 2


async def test_document_url_expires_before_download(make_world, ref_books) -> None:
    """403 'Request has expired' from the storage URL: ask for a fresh URL and download again."""
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("expire_url", operation="downloadDocument", count=2)
        await faulted_run(w, ref)


async def test_document_url_always_expired_waits_a_cycle(make_world, ref_books) -> None:
    ref = await ref_books()
    async with make_world() as w:
        rule = w.amazon.faults.add("expire_url", operation="downloadDocument", count=None)
        async with w.engine(w.config()) as eng:
            report = await eng.sync_once(dispatch_timeout_s=30.0)
        assert "settlements:NA" in report.poll_errors, report.poll_errors
        w.amazon.faults.remove(rule)
        await faulted_run(w, ref)


async def test_listings_report_cancelled_two_cycles_running(make_world, ref_books) -> None:
    """Two CANCELLED listings reports in a row must not read as 'every MFN SKU is gone'."""
    ref = await ref_books()
    async with make_world() as w:
        cfg = w.config()
        w.amazon.faults.add(
            "report_outcome", operation="createReport", outcome="CANCELLED", count=2
        )
        await w.converge(cfg, max_passes=1)
        await w.converge(cfg, max_passes=1)
        await faulted_run(w, ref, passes=None)


@pytest.mark.parametrize("count", [1, 4])
async def test_report_document_truncated(make_world, ref_books, count) -> None:
    """A settlement/listings document cut off mid-download is never parsed as a whole one."""
    ref = await ref_books()
    async with make_world() as w:
        w.amazon.faults.add("truncate", operation="downloadDocument", count=count)
        await faulted_run(w, ref, passes=None)
