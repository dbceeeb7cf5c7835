"""Hostile numbers: every numeric config key declares a range, and load refuses the rest.

Issue items 12: ``qad_rate_per_s = nan`` hung the dispatcher, ``inf`` parked every command with
ZeroDivisionError, ``timeout_s = 0`` and ``max_attempts = -3`` were accepted. A range declared
on each field (``metadata["range"]``) is checked at load for file values and environment
overrides alike; the walk below makes a new numeric key without a range fail here.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.config import Config, load_config, parse_config
from engine.errors import ConfigError

NUMERIC = (int, float, Decimal)
ROOT = Path(__file__).resolve().parents[2]


def dataclasses_in(tp: Any) -> list[type]:
    """Dataclass types reachable from ``tp`` (a section, or dict/tuple of them)."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return [tp]
    return [c for arg in typing.get_args(tp) for c in dataclasses_in(arg)]


def all_numeric_fields() -> list[tuple[str, type, dataclasses.Field[Any]]]:
    """(dotted name, type, field) of every numeric field of every (nested) section class."""
    out: list[tuple[str, type, dataclasses.Field[Any]]] = []
    seen: set[type] = set()
    todo = [
        (f.name, typing.get_type_hints(Config)[f.name])
        for f in dataclasses.fields(Config)
        if f.name != "source"
    ]
    while todo:
        prefix, tp = todo.pop()
        for cls in dataclasses_in(tp):
            if cls in seen:
                continue
            seen.add(cls)
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                ftp = hints[f.name]
                if ftp in NUMERIC:
                    out.append((f"{prefix}.{f.name}", ftp, f))
                else:
                    todo.append((f"{prefix}.{f.name}", ftp))
    return sorted(out, key=lambda t: t[0])


NUMERIC_FIELDS = all_numeric_fields()
# Top-level section keys: the ones a file or an environment variable can set directly.
SECTION_KEYS = [(n, tp, f) for n, tp, f in NUMERIC_FIELDS if n.count(".") == 1]


def toml_number(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def outside(rng: Any, tp: type) -> list[Any]:
    """Values just outside each end, plus the open ends themselves."""
    step = 1 if tp is int else max(1.0, abs(rng.hi) * 1e-3)
    vals: list[Any] = [rng.lo if rng.lo_open else rng.lo - step]
    vals.append(rng.hi if rng.hi_open else rng.hi + step)
    vals += [rng.hi * 1000 + 1, -1 - abs(rng.hi)]
    return [tp(v) for v in vals if not rng.contains(tp(v))]


def write(tmp_path: Path, section: str, key: str, value: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(f"[{section}]\n{key} = {value}\n", encoding="utf-8")
    return p


def test_the_walk_sees_the_keys_of_the_issue() -> None:
    names = {n for n, _, _ in NUMERIC_FIELDS}
    assert {"dispatch.qad_rate_per_s", "dispatch.timeout_s", "dispatch.max_attempts"} <= names
    assert {"poll.orders_end_lag_s", "amazon.request_timeout_s"} <= names
    assert len(SECTION_KEYS) >= 19


@pytest.mark.parametrize(("name", "tp", "f"), NUMERIC_FIELDS, ids=[n for n, _, _ in NUMERIC_FIELDS])
def test_every_numeric_key_declares_a_finite_range_holding_its_default(
    name: str, tp: type, f: dataclasses.Field[Any]
) -> None:
    assert "range" in f.metadata, f"{name} has no declared range (use ranged(...) in model.py)"
    rng = f.metadata["range"]
    assert math.isfinite(rng.lo) and math.isfinite(rng.hi) and rng.lo < rng.hi, name
    assert rng.contains(f.default), f"{name}: default {f.default!r} outside {rng.interval()}"


@pytest.mark.parametrize(("name", "tp", "f"), SECTION_KEYS, ids=[n for n, _, _ in SECTION_KEYS])
def test_out_of_range_nan_and_inf_are_refused_from_the_file_naming_key_range_value(
    tmp_path: Path, name: str, tp: type, f: dataclasses.Field[Any]
) -> None:
    section, key = name.split(".")
    rng = f.metadata.get("range")
    assert rng is not None, name
    bad: list[Any] = [*outside(rng, tp)]
    if tp is float:
        bad += [math.nan, math.inf, -math.inf]
    for v in bad:
        p = write(tmp_path, section, key, toml_number(v))
        with pytest.raises(ConfigError) as info:
            load_config(p, env={})
        msg = str(info.value)
        assert f"{name} must be" in msg and str(p) in msg, msg
        assert "\n" not in msg
        assert rng.describe() in msg and repr(v) in msg, msg
    if tp is int:  # TOML nan/inf are floats: refused by type, still naming the key
        for text in ("nan", "inf", "-inf"):
            with pytest.raises(ConfigError, match=f"{name} must be an integer"):
                load_config(write(tmp_path, section, key, text), env={})


@pytest.mark.parametrize(("name", "tp", "f"), SECTION_KEYS, ids=[n for n, _, _ in SECTION_KEYS])
def test_environment_overrides_are_range_checked_too(
    name: str, tp: type, f: dataclasses.Field[Any]
) -> None:
    section, key = name.split(".")
    var = f"ML_CONNECTOR_{section}_{key}".upper()
    rng = f.metadata.get("range")
    assert rng is not None, name
    for v in [*outside(rng, tp), "nan", "inf", "-inf"]:
        with pytest.raises(ConfigError) as info:
            parse_config({}, source="c.toml", env={var: str(v)})
        msg = str(info.value)
        assert msg.startswith("c.toml: ") and name in msg and f"${var}" in msg, msg


@pytest.mark.parametrize(("name", "tp", "f"), SECTION_KEYS, ids=[n for n, _, _ in SECTION_KEYS])
def test_the_closed_ends_of_each_range_are_accepted(
    tmp_path: Path, name: str, tp: type, f: dataclasses.Field[Any]
) -> None:
    section, key = name.split(".")
    rng = f.metadata["range"]
    for end, is_open in ((rng.lo, rng.lo_open), (rng.hi, rng.hi_open)):
        if not is_open:
            cfg = load_config(write(tmp_path, section, key, toml_number(tp(end))), env={})
            assert getattr(getattr(cfg, section), key) == tp(end)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[dispatch]\nqad_rate_per_s = nan\n", "dispatch.qad_rate_per_s must be >= 0"),
        ("[dispatch]\nqad_rate_per_s = inf\n", "dispatch.qad_rate_per_s must be >= 0"),
        ("[dispatch]\nlistings_rate_per_s = inf\n", "dispatch.listings_rate_per_s must be"),
        ("[dispatch]\ntimeout_s = 0\n", "dispatch.timeout_s must be a positive number"),
        ("[dispatch]\nmax_attempts = -3\n", "dispatch.max_attempts must be >= 1"),
        ("[dispatch]\nconcurrency = 0\n", "dispatch.concurrency must be >= 1"),
        ("[dispatch]\nqad_burst = 0\n", "dispatch.qad_burst must be >= 1"),
        ("[dispatch]\nretry_base_s = -1\n", "dispatch.retry_base_s must be a positive"),
        ("[amazon]\nrequest_timeout_s = inf\n", "amazon.request_timeout_s must be a positive"),
        ("[poll]\norders_every_s = inf\n", "poll.orders_every_s must be a positive number"),
        ("[poll]\norders_overlap_s = nan\n", "poll.orders_overlap_s must be >= 0"),
    ],
)
def test_the_values_from_the_issue_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    assert needle in str(info.value) and str(p) in str(info.value)


def test_shipped_config_documents_every_range_it_sets() -> None:
    """config.toml notes each numeric key's range inline, as declared in the model."""
    lines = (ROOT / "config.toml").read_text(encoding="utf-8").splitlines()
    section = ""
    for line in lines:
        if line.startswith("["):
            section = line.split("]")[0].strip("[")
            continue
        key = line.split("=")[0].strip()
        hit = [f for n, _, f in SECTION_KEYS if n == f"{section}.{key}"]
        if hit:
            assert hit[0].metadata["range"].interval() in line, line


def test_readme_reference_table_documents_every_range() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, _, f in SECTION_KEYS:
        section, key = name.split(".")
        row = next(r for r in readme.splitlines() if r.startswith(f"| `[{section}]` |"))
        assert f"`{key}` {f.metadata['range'].interval()}" in row, name
