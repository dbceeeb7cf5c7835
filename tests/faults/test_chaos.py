"""Everything at once: seeded random faults on both sides for the whole run (and v0 orders).

Not in the mix, by design: random token revocation. Two revocations hitting one request back to
back are *meant* to be fatal (SP-API "refused a freshly refreshed token", QAD "second 401 is an
AuthError"); single revocations are covered deterministically in test_amazon_paging/test_qad_faults.
The dispatcher's attempt budget is raised: a storm this dense (every QAD request has a ~25% chance
to fail) would otherwise park a few commands after 8 attempts, which is the designed outcome.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import attempt_outcomes, faulted_run


@pytest.mark.parametrize("api", ["2026-01-01", "v0"])
async def test_chaos_both_sides(make_world, ref_books, api) -> None:
    ref = await ref_books()
    async with make_world() as w:
        for kind in ("throttle", "status", "drop", "truncate"):
            w.amazon.faults.add(kind, count=None, probability=0.08)
        w.amazon.faults.add("expire_next_token", count=None, probability=0.2)
        for kind in ("commit_then_drop", "commit_then_truncate"):
            w.qad.faults.add(kind, method="POST", times=0, probability=0.1)
        w.qad.faults.add("status", status=503, times=0, probability=0.1)
        cfg = {"orders_api": api, "dispatch": {"max_attempts": 40}}
        await faulted_run(w, ref, passes=None, max_passes=6, cfg=cfg)
        assert (await attempt_outcomes(w.last_cfg))["recovered"] > 0
