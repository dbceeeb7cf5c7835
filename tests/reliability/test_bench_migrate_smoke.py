"""scripts/bench_migrate.py copies a small log into a PostgreSQL database (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_migrate_small_run_prints_one_json_line(pg_dsn: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_migrate.py"), "--events", "3000",
         "--batch", "1000", "--dsn", pg_dsn],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = proc.stdout.strip().splitlines()
    res = json.loads(line)
    assert res["events"] == 3000
    assert res["events_per_s"] > 0 and res["events_per_s_vs_append"] > 0
