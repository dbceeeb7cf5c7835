"""scripts/bench_e2e.py runs end to end on a small business (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_e2e_small_run_prints_one_json_line_without_duplicates() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_e2e.py"), "--orders", "300"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    res = json.loads(lines[0])
    for key in (
        "orders",
        "wall_s",
        "orders_per_s",
        "engine_cpu_ms_per_order",
        "engine_peak_rss_mb",
        "qad_posts",
        "duplicates",
        "rebuild_events_per_s",
    ):
        assert key in res, key
    assert res["orders"] == 300
    assert res["duplicates"] == 0
    assert res["qad_posts"] >= res["orders"]
    assert res["poll_errors"] == {}
    assert res["dispatched"].get("parked", 0) == 0
    assert res["engine_peak_rss_mb"] > 0 and res["engine_cpu_ms_per_order"] > 0
    assert res["rebuild_events"] == res["events"] and res["rebuild_new_commands"] == 0
    assert "engine:" in proc.stderr  # progress goes to stderr


def test_bench_e2e_help() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_e2e.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "--orders" in proc.stdout
