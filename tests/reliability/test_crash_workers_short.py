"""The worker crash test (scripts/crash_workers.py) shortened for CI: two ``run --worker``
processes on one PostgreSQL partition, four kill -9 rounds, all counters zero."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.reliability.test_crash_short import _alive

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("psycopg", reason="psycopg not installed (extra 'postgresql')")


def _script() -> ModuleType:
    sys.path.insert(0, str(ROOT / "scripts"))
    path = ROOT / "scripts" / "crash_workers.py"
    spec = importlib.util.spec_from_file_location("crash_workers", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["crash_workers"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_killing_workers_loses_nothing_and_duplicates_nothing(tmp_path: Path, pg_dsn: str) -> None:
    cw = _script()
    procs = cw.ct.Procs()
    result = cw.run_worker_crash_test(
        workers=2,
        trials=4,
        seed=3,
        orders=30,
        write_latency=0.3,
        max_gap_s=1.5,
        dsn=pg_dsn,
        workdir=str(tmp_path / "run"),
        procs=procs,
        sync_timeout_s=180,
    )
    print(result)  # figures for the CI log
    assert not [p for p in procs.pids if _alive(p)], "child processes left running"
    assert result["kills"] >= 4
    assert result["kills_by_moment"].get("dispatch", 0) >= 1, result  # kills landed mid-work
    assert result["settlements"] >= 3, result
    assert (result["lost"], result["duplicated"], result["mismatched"]) == (0, 0, 0), result
    assert result["unreconciled"] == 0, result
    assert result["docs"]["sales_orders"] >= 20, result
