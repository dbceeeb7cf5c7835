"""One event log per QAD tenant entity: the same config run from a second folder is refused.

Before, a relative ``db`` resolved against the working directory, so running one config from two
folders made two logs, and both posted to the tenant (149 duplicate documents).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from engine.config import Config
from engine.security.keys import encode_key, generate_key
from engine.sim.qad.snapshot import snapshot
from tests.e2e.configfile import write_config
from tests.e2e.test_run_sigterm import _vault


async def _cli(env: dict[str, str], cwd: Path, *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", *argv, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _relative_db_config(cfg: Config, folder: Path) -> Path:
    """config.toml in ``folder`` with ``db = "events.db"`` (relative, as config.toml ships)."""
    folder.mkdir()
    path = write_config(cfg, folder / "config.toml")
    text = path.read_text().replace(f'"db" = "{cfg.engine.db}"', '"db" = "events.db"')
    assert '"db" = "events.db"' in text
    path.write_text(text)
    return path


async def test_relative_db_follows_the_config_file_and_a_second_log_is_refused(
    make_world, tmp_path
) -> None:
    # The engine runs as a subprocess on the real clock: the simulator starts now.
    start = datetime.now(UTC)
    async with make_world(history_days=3, orders_per_day=4, time_scale=30.0, start=start) as w:
        cfg = w.config()
        a = _relative_db_config(cfg, tmp_path / "first")
        b = _relative_db_config(cfg, tmp_path / "second")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key)}
        common = ["--vault", str(vault)]

        rc, _out, err = await _cli(env, tmp_path, "sync", "--config", str(a), "--once", *common)
        assert rc == 0, err[-1500:]
        # The same config from another working directory uses the same log, next to the file.
        rc, _out, err = await _cli(env, elsewhere, "sync", "--config", str(a), "--once", *common)
        assert rc == 0, err[-1500:]
        assert (tmp_path / "first" / "events.db").is_file()
        assert not (tmp_path / "events.db").exists() and not (elsewhere / "events.db").exists()
        before = snapshot(w.qad.state_file())
        assert before.duplicate_count == 0 and before.counts()["sales_orders"] > 0

        # A second log (another folder's config) is refused before it polls or posts anything.
        rc, _out, err = await _cli(env, tmp_path, "sync", "--config", str(b), "--once", *common)
        assert rc == 2, err[-1500:]
        assert "already fed by another event log" in err and "Traceback" not in err
        assert snapshot(w.qad.state_file()) == before, "the refused log posted nothing"

        rc, out, err = await _cli(env, tmp_path, "tenant", "show", "--config", str(b), *common)
        assert rc == 0 and str(tmp_path / "first" / "events.db") in out, out + err
        # Moving the claim lets the second log in and bars the first.
        rc, out, err = await _cli(env, tmp_path, "tenant", "claim", "--config", str(b), *common)
        assert rc == 0 and "now fed by" in out, out + err
        rc, _out, err = await _cli(env, tmp_path, "sync", "--config", str(a), "--once", *common)
        assert rc == 2 and "already fed by another event log" in err
