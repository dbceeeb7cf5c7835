"""`ml-connector sim qad` starts, prints the tenant URL and credentials, and serves; --renames
and --no-metadata make it a tenant with other names and without entity metadata."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

BASIC = "Basic " + base64.b64encode(b"mfg@qad.com:qad-sim").decode()


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "sim", "qad", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )


def _url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "http://127.0.0.1:" in first and "/clouderp" in first
    assert "mfg@qad.com" in proc.stdout.readline()
    return first.split()[3]


def _status(url: str) -> int:
    req = urllib.request.Request(url, headers={"Authorization": BASIC})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def test_cli_starts_and_serves(tmp_path):
    with _start("--state", str(tmp_path / "s.db")) as proc:
        try:
            url = _url(proc)
            deadline = time.monotonic() + 10
            with urllib.request.urlopen(
                url + "/__sim/health", timeout=deadline - time.monotonic()
            ) as r:
                assert b'"ok"' in r.read()
            assert _status(url + "/api/qracore/entitymetadatas") == 200
        finally:
            _stop(proc)
    assert (tmp_path / "s.db").exists()


def test_cli_renames_and_hides_metadata(tmp_path):
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"api/erp/items": "api/erp/parts"}))
    with _start(
        "--state", str(tmp_path / "s.db"), "--renames", str(names), "--no-metadata"
    ) as proc:
        try:
            url = _url(proc)
            assert _status(url + "/api/erp/parts?itemCode=10-1000&domainCode=10USA") == 200
            assert _status(url + "/api/erp/items?itemCode=10-1000&domainCode=10USA") == 404
            assert _status(url + "/api/qracore/entitymetadatas") == 404
        finally:
            _stop(proc)


def test_cli_refuses_a_bad_renames_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"itemCode": "code", "siteCode": "code"}))
    for arg in (str(bad), str(tmp_path / "missing.json")):
        out = subprocess.run(
            [sys.executable, "-m", "engine", "sim", "qad", "--renames", arg],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 2 and "renames" in out.stdout
