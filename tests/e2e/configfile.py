"""Write a Config as a config.toml, so tests can drive the real CLI (`--config F`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from engine.config import Config, load_config


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v))  # JSON string escapes are valid TOML basic strings


def _table(name: str, data: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    lines += [f"{json.dumps(k)} = {_value(v)}" for k, v in data.items()]
    return lines


def write_config(cfg: Config, path: Path) -> Path:
    """Serialise every section; the file loads back to an equal Config (checked)."""
    out: list[str] = []
    for section in ("engine", "amazon", "qad", "poll", "dispatch", "inventory"):
        out += _table(section, dataclasses.asdict(getattr(cfg, section)))
    m = cfg.mapping
    scalars = {
        k: v
        for k, v in dataclasses.asdict(m).items()
        if k not in ("sku", "marketplaces", "settlement")
    }
    out += _table("mapping", scalars)
    out += _table("mapping.sku", dict(m.sku))
    for mp, mm in m.marketplaces.items():
        out += _table(f"mapping.marketplaces.{mp}", dataclasses.asdict(mm))
    for rule in m.settlement:
        out += ["[[mapping.settlement]]"]
        out += [f"{k} = {_value(v)}" for k, v in dataclasses.asdict(rule).items()]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    back = load_config(path)
    assert dataclasses.replace(back, source="") == dataclasses.replace(cfg, source=""), "lossy"
    return path
