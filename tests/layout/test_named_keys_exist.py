"""Every config key a message or README tells the user to set must exist (issue 14: the old
probe told users to set `qad.paths.X`, a key the loader rejected)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from engine.config import Config

ROOT = Path(__file__).resolve().parents[2]
# A profile key written literally: `qad.paths.x`, `qad.browses.x`, `qad.fields.x` (f-string
# placeholders such as `qad.paths.{key}` are not matched; their keys come from the model).
NAMED = re.compile(r"\b(qad)\.(paths|browses|fields)\.([a-z_]+)\b")


def _exists(section: str, key: str, sub: str | None) -> bool:
    table = getattr(Config(), section)
    names = {f.name for f in dataclasses.fields(table)}
    if key not in names:
        return False
    value = getattr(table, key)
    if sub is None or not dataclasses.is_dataclass(value):
        return True
    return sub in {f.name for f in dataclasses.fields(value)}


def unknown_keys(text: str) -> list[tuple[int, str]]:
    """(line, name) of every literal profile key in ``text`` that the config model lacks."""
    out = []
    for m in NAMED.finditer(text):
        section, key, sub = m.groups()
        if not _exists(section, key, sub):
            out.append((text.count("\n", 0, m.start()) + 1, m.group(0)))
    return out


def test_every_literal_key_named_in_engine_messages_and_readme_exists() -> None:
    bad = []
    files = [*sorted((ROOT / "engine").rglob("*.py")), ROOT / "README.md", ROOT / "config.toml"]
    for path in files:
        for line, named in unknown_keys(path.read_text(encoding="utf-8")):
            bad.append(f"{path.relative_to(ROOT)}:{line}: {named}")
    assert not bad, "messages name config keys that do not exist:\n" + "\n".join(bad)


def test_the_check_catches_the_old_probe_message() -> None:
    old = "set qad.paths.inventory_balances to the tenant's real path"
    assert unknown_keys(old) == [(1, "qad.paths.inventory_balances")]
    assert unknown_keys("set qad.browses.on_hand_quantity_column") == []
