"""The crash test, shortened for CI: 5 kill -9 trials on a small business, all counters zero."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_test", ROOT / "scripts" / "crash_test.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["crash_test"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)  # any process left in the group (sync or simulator)?
    except ProcessLookupError:
        return False
    return True


def test_five_kills_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    ct = _script()
    procs = ct.Procs()
    t0 = time.monotonic()
    result = ct.run_crash_test(
        trials=5,
        seed=5,
        orders=30,
        write_latency=0.1,
        max_dispatch_kill_s=1.5,
        workdir=str(tmp_path),
        procs=procs,
        sync_timeout_s=60,
    )
    print(result)  # figures for the CI log (pytest -s / on failure)
    wall = time.monotonic() - t0
    assert not [p for p in procs.pids if _alive(p)], "child processes left running"
    assert result["trials"] == 5
    assert result["settlements"] >= 3, result  # the business has settlements to reconcile
    assert result["docs"]["sales_orders"] >= 20, result
    assert result["kills"] >= 3, result  # the schedule actually killed the engine
    counters = {k: result[k] for k in ("lost", "duplicated", "mismatched", "unreconciled")}
    assert counters == {"lost": 0, "duplicated": 0, "mismatched": 0, "unreconciled": 0}, result
    assert not ct.failed(result)
    print(f"crash short form: {wall:.0f} s wall")  # speed is scripts/crash_test.py's business
