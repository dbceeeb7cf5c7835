"""Write a Config as a config.toml, so tests can drive the real CLI (`--config F`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.config import Config, load_config, to_toml


def write_config(cfg: Config, path: Path) -> Path:
    """Serialise every section; the file loads back to an equal Config (checked)."""
    path.write_text(to_toml(cfg), encoding="utf-8")
    back = load_config(path)
    assert dataclasses.replace(back, source="") == dataclasses.replace(cfg, source=""), "lossy"
    return path
