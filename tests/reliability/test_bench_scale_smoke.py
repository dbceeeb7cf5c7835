"""scripts/bench_scale.py in its short form (2 sellers x 15 orders, K = 1 and 2 workers on
PostgreSQL): the same books as the single-process SQLite run, no duplicates, one JSON line.
Speed is not asserted: the figures are the benchmark's business, not a timed test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")


def _figures() -> ModuleType:
    sys.path.insert(0, str(ROOT / "scripts"))
    import scale_figures

    return scale_figures


def test_workers_post_the_same_books_as_one_sqlite_process(tmp_path: Path, pg_dsn: str) -> None:
    proc = subprocess.run(
        [
            sys.executable, str(ROOT / "scripts" / "bench_scale.py"), "--sellers", "2",
            "--orders", "15", "--workers", "1,2", "--dsn", pg_dsn, "--timeout", "150",
            "--workdir", str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )  # fmt: skip
    print(proc.stderr[-4000:])  # the table, for the CI log
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    res = json.loads(lines[0])
    assert (res["lost"], res["duplicated"], res["mismatched"]) == (0, 0, 0), res
    assert res["reference"]["duplicates"] == 0
    assert [r["workers"] for r in res["runs"]] == [1, 2]
    for run in res["runs"]:
        books = run["books"]
        assert (books["lost"], books["duplicated"], books["mismatched"]) == (0, 0, 0), run
        assert len(run["worker_cpu_s"]) == run["workers"], run
        assert all(cpu > 0 for cpu in run["worker_cpu_s"]), run  # every worker did work
        assert all(n > 15 for n in run["qad_attempts"]), run  # every partition posted
        assert run["bound"] in {
            "qad_rate_limit", "qad_simulator", "amazon_simulator", "machine_cpu", "polling", "none"
        }  # fmt: skip
    assert res["bound_by"] == res["runs"][-1]["bound"]
    # The books compared are real: the reference tenants hold the orders and settlements.
    assert res["reference"]["docs"]["sales_orders"] >= 20, res["reference"]
    assert res["reference"]["docs"]["journals"] >= 2, res["reference"]
    # The per-K databases made beside the given one are dropped at the end.
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE '%\\_k_'")
        assert left.fetchall() == []


def _run(**over: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "workers": 2,
        "wall_s": 10.0,
        "fetched_s": 3.0,
        "window_s": 10.0,
        "orders_per_s": 40.0,
        "worker_cpu_s": [3.0, 3.0],
        "worker_cpu_wait_s": [0.5, 0.5],
        "sim_cpu_s": {"amazon": [0.5, 0.5], "qad": 2.0},
        "postgres_cpu_s": 2.0,
        "bench_cpu_s": 0.2,
        "machine_busy_s": 12.0,
        "qad_rate_use": 0.0,
        "books": {"lost": 0, "duplicated": 0, "mismatched": 0},
    }
    run.update(over)
    return run


def test_what_binds_follows_from_the_figures() -> None:
    sf = _figures()

    def bound(**over: Any) -> str:
        return str(sf.add_figures(_run(**over), [], 400, 2)["bound"])

    assert bound() == "none"  # 60 % of 2 cores, little waiting, the last poll early
    assert bound(machine_busy_s=18.0) == "machine_cpu"
    assert bound(machine_busy_s=15.2) == "machine_cpu"  # 76 %: queueing at every hand-over
    assert bound(worker_cpu_wait_s=[1.5, 1.5]) == "machine_cpu"  # a third queued for a core
    assert bound(machine_busy_s=18.0, qad_rate_use=0.9) == "qad_rate_limit"
    assert bound(sim_cpu_s={"amazon": [0.5], "qad": 9.0}, machine_busy_s=18.0) == "qad_simulator"
    assert bound(sim_cpu_s={"amazon": [0.5, 9.5], "qad": 1.0}) == "amazon_simulator"
    assert bound(fetched_s=8.5) == "polling"  # everything was posted as the last poll landed
    # Others' load is named: 18 busy s, of which 18 - 11.2 outside the bench.
    run = sf.add_figures(_run(machine_busy_s=18.0), [], 400, 2)
    assert run["others_cpu_s"] == 6.8 and "outside the bench" in run["bound_reason"], run
    # 11.2 CPU s of the bench's own for 400 orders: 28 ms each, 2 cores give 71.4 orders/s.
    assert (run["cpu_ms_per_order"], run["cpu_ceiling_orders_per_s"]) == (28.0, 71.4), run
    runs = [
        sf.add_figures(_run(workers=1), [], 400, 2),
        sf.add_figures(_run(workers=2, machine_busy_s=18.0), [], 400, 2),
        sf.add_figures(_run(workers=3, machine_busy_s=19.0), [], 400, 2),
    ]
    assert sf.verdict(runs)["bound_by"] == "machine_cpu"
    assert sf.verdict(runs)["bound_from"] == 2


def test_bench_scale_help_teaches_the_rule() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_scale.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0
    for word in ("--workers", "--qad-rate", "bound_by", "qad_rate_limit", "Examples"):
        assert word in proc.stdout, word
