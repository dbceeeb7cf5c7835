"""`ml-connector sim qad` starts, prints the tenant URL and credentials, and serves."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request


def test_cli_starts_and_serves(tmp_path):
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "sim",
            "qad",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        _check(proc)
    assert (tmp_path / "s.db").exists()


def _check(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first and "/clouderp" in first
        assert "mfg@qad.com" in proc.stdout.readline()
        url = first.split()[3]
        deadline = time.monotonic() + 10
        with urllib.request.urlopen(
            url + "/__sim/health", timeout=deadline - time.monotonic()
        ) as r:
            assert b'"ok"' in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
