"""The premise of the matrix: the quiet window holds and a fault-free run is reproducible."""

from __future__ import annotations

from tests.faults.conftest import assert_same_books, quiet_window_holds


def test_quiet_window_has_no_business_event() -> None:
    quiet_window_holds()


async def test_fault_free_runs_are_identical(make_world, ref_books) -> None:
    ref = await ref_books()
    async with make_world() as w:
        reports = await w.converge(w.config(), max_passes=1)
        assert reports[0].dispatched.get("ok", 0) > 20
        assert_same_books(ref, w.books())
