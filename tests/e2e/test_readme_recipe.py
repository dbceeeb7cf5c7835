"""README's standalone recipe, run exactly as written (issue 21 item 7).

The ```bash block under "Running against the standalone simulators" is extracted from README.md
and handed to ``bash -e`` unchanged, in a scratch folder holding a copy of ``config.toml``, with
HOME and XDG_CONFIG_HOME pointing into it (the vault and key file land there, not in the
developer's home). Both simulators run as separate processes on the recipe's fixed ports, so the
test skips when those ports are taken. Then QAD is read from the outside (the simulator's state
file) and the recipe's closing ``status`` must report nothing parked.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Running against the standalone simulators"
PORTS = (8600, 8081)  # what the recipe and config.toml use


def readme_recipe() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text[text.index(HEADING) :]
    start = section.index("```bash\n") + len("```bash\n")
    return section[start : section.index("```", start)]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cli() -> Path:
    exe = Path(sys.executable).parent / "ml-connector"
    if not exe.exists():
        pytest.skip(f"the ml-connector entry point is not installed beside {sys.executable}")
    return exe


def _env(home: Path, cli: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PATH=f"{cli.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def test_the_recipe_is_the_documented_one() -> None:
    recipe = readme_recipe()
    assert "ml-connector sim amazon --port 8600 &" in recipe
    assert "ml-connector sync --config config.toml --once" in recipe
    # The recipe must not need a time-scaled clock (item 6): the engine runs on the wall clock.
    assert "--time-scale" not in recipe


def test_readme_standalone_recipe_runs_as_written(tmp_path: Path) -> None:
    cli = _cli()
    taken = [p for p in PORTS if not _port_free(p)]
    if taken:
        pytest.skip(f"ports {taken} are in use; the README recipe needs them free")
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    env = _env(tmp_path, cli)
    out_path = tmp_path / "recipe.out"
    with out_path.open("wb") as out:
        # Files, not pipes: the background simulators keep their stdout open after bash exits.
        proc = subprocess.Popen(
            ["bash", "-e", "-c", readme_recipe()],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the simulators join bash's process group: killed below
        )
        try:
            rc = proc.wait(timeout=900)
            output = out_path.read_text("utf-8", "replace")
            assert rc == 0, output[-4000:]
            assert "checks: 0 failed" in output, output[-4000:]
            assert "sync: " in output and "'ok': " in output, output[-2000:]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    # The recipe's last line, `status`: nothing parked, no traceback anywhere.
    assert "needs attention 0 parked" in output, output[-3000:]
    assert "Traceback" not in output

    # QAD from the outside: the orders arrived, each once.
    with sqlite3.connect(tmp_path / "qad-sim.db") as qad:
        rows = qad.execute("SELECT so_po, COUNT(*) FROM so_mstr GROUP BY so_po").fetchall()
    assert len(rows) > 100, rows[:5]
    assert all(n == 1 for _, n in rows), [r for r in rows if r[1] != 1][:5]

    # The secrets: a 0600 key file in its own directory, never beside the vault.
    key = tmp_path / ".config" / "ml-connector-keys" / "master.key"
    vault = tmp_path / ".config" / "ml-connector" / "vault.bin"
    assert vault.exists() and key.exists()
    assert key.parent != vault.parent
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
