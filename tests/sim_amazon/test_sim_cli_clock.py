"""`ml-connector sim amazon` without --start lives on the real clock (README recipe works today)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson


def _first_lines(*argv: str) -> tuple[str, str]:
    """The banner line and the simulator's /__sim/clock answer, then stop the process."""
    with subprocess.Popen(
        [sys.executable, "-m", "engine", "sim", "amazon", "--port", "0", "--orders-per-day", "1",
         "--history-days", "2", *argv],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline()
            base = banner.split()[4]
            with urllib.request.urlopen(base + "/__sim/clock", timeout=10) as r:
                clock = r.read().decode()
        finally:
            proc.terminate()
            proc.wait(10)
    return banner, clock


def _sim_now(clock_body: str) -> datetime:
    body = orjson.loads(clock_body)
    text = body.get("now") or body.get("time") or next(iter(body.values()))
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def test_default_start_is_the_real_time() -> None:
    _banner, clock = _first_lines()
    assert abs(_sim_now(clock) - datetime.now(UTC)) < timedelta(minutes=2), clock


def test_explicit_start_is_kept_for_reproducible_runs() -> None:
    banner, clock = _first_lines("--start", "2026-03-02T12:00:00Z")
    assert "sim time 2026-03-02 12:00" in banner
    assert _sim_now(clock).date().isoformat() == "2026-03-02"
