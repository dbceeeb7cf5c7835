"""The worker template unit (packaging/systemd/ml-connector-worker@.service): the same hardening
as the single-process unit, the workers' command line, the database password only through a
credential, and what systemd-analyze says of an instance."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.test_unit_and_image import INSTALLED, UNIT, _unit

WORKER = UNIT.with_name("ml-connector-worker@.service")


def _worker_unit(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, list[str]]]:
    import tests.packaging.test_unit_and_image as single

    monkeypatch.setattr(single, "UNIT", WORKER)
    return _unit()


def test_worker_unit_runs_workers_hardened_like_the_single_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = {k: v[-1] for k, v in _unit()["Service"].items()}
    unit = _worker_unit(monkeypatch)
    svc = {k: v[-1] for k, v in unit["Service"].items()}
    assert svc["ExecStart"].startswith(f"{INSTALLED} run --worker --partitions /etc/ml-connector/")
    assert "ExecReload" not in svc  # a worker has no reload (SIGHUP is only logged)
    hardening = [k for k in one if k.startswith(("Protect", "Private", "Restrict", "System"))]
    assert hardening and all(svc.get(k) == one[k] for k in hardening), hardening
    for key in ("User", "UMask", "NoNewPrivileges", "CapabilityBoundingSet", "Restart"):
        assert svc[key] == one[key], key
    assert unit["Unit"]["StartLimitIntervalSec"] == ["0"]
    env = dict(e.split("=", 1) for e in unit["Service"]["Environment"])
    credentials = dict(c.split(":", 1) for c in unit["Service"]["LoadCredential"])
    assert env["PGPASSFILE"] == "%d/pgpass" and credentials["pgpass"].startswith("/etc/")
    assert env["ML_CONNECTOR_KEY_FILE"] == "%d/master.key"
    assert "%i" in unit["Unit"]["Description"][0]


def test_a_worker_instance_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    script = Path(sys.executable).with_name("ml-connector")
    if not script.exists():
        pytest.skip(f"{script} missing: install the project (pip install -e .) first")
    instance = tmp_path / "ml-connector-worker@1.service"
    instance.write_text(WORKER.read_text().replace(INSTALLED, str(script)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(instance)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    ours = [ln for ln in (done.stdout + done.stderr).splitlines() if "worker@" in ln]
    assert done.returncode == 0 and ours == [], done.stdout + done.stderr
