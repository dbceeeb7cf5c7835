"""Write a Config as a config.toml, so tests can drive the real CLI (`--config F`)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path

from engine.config import Config, load_config, to_toml


def write_config(cfg: Config, path: Path) -> Path:
    """Serialise every section; the file loads back to an equal Config (checked)."""
    path.write_text(to_toml(cfg), encoding="utf-8")
    back = load_config(path)
    assert dataclasses.replace(back, source="") == dataclasses.replace(cfg, source=""), "lossy"
    return path


async def run_cli(*argv: str) -> tuple[int, str, str]:
    """``python -m engine ARGV`` as a real process: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", *argv,
        env=dict(os.environ), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
