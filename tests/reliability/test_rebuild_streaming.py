"""A streamed rebuild (issue 18): exact counts past its bounded samples, the same diff as the
commands a live projection stored, and ``bench_rebuild.py`` in its short form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.commands.outbox import Outbox
from engine.log.opening import open_event_log
from engine.ops.demo import simulator_config
from engine.ops.engine import build_projectors
from engine.ops.retarget import derive_qad_commands
from engine.projectors import rebuild_diff
from engine.projectors.runner import ProjectionRunner
from tests.reliability.order_logs import ROOT, seed_orders, target

__all__ = ["target"]  # the fixture, used by name


async def test_counts_are_exact_past_the_samples_and_a_projected_log_has_no_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    # The same on both backends: live projection, streamed rebuild and replay's derivation.
    await seed_orders(target, 40)
    cfg = simulator_config(tmp_path / "log.db", amazon_base="http://x", lwa_url="", qad_url="")
    monkeypatch.setattr(rebuild_diff, "SAMPLE", 5)
    async with open_event_log(target) as log:
        outbox = Outbox(log)
        await outbox.ensure()
        runner = ProjectionRunner(log, outbox, build_projectors(cfg))
        dry = await runner.rebuild(dry_run=True)
        assert dry.events == 40 and dry.derived >= 40
        assert dry.new_count == dry.derived and len(dry.new) == 5  # sample bounded, count exact
        assert [c.reference for c in dry.new] == sorted(c.reference for c in dry.new)  # log order
        derived_qad = await derive_qad_commands(log, build_projectors(cfg))
        assert len(derived_qad) == dry.derived  # replay derives the same (all QAD) commands
        assert [c for _, c in derived_qad[:5]] == dry.new
        await runner.run_once()  # the live path stores the same commands
        stored = await log.query("SELECT count(*) FROM commands")
        assert stored[0][0] == dry.derived
        again = await runner.rebuild(dry_run=True)
        assert (again.new_count, again.no_longer_derived_count, again.new) == (0, 0, [])


def test_bench_rebuild_short_form(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_rebuild.py"), "--orders", "300"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=True,
    )  # fmt: skip
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["orders"] == 300
    assert row["rebuild"]["derived"] >= 300 and row["replay"]["derived"] >= 300
    assert row["rebuild"]["peak_rss_mb"] > 0
