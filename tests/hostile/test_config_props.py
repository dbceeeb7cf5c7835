"""Hostile config: random TOML-ish tables and bad types end in ConfigError naming the key."""

from __future__ import annotations

import dataclasses
import re
import tempfile
import typing
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import Config, load_config, parse_config
from engine.errors import ConfigError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SECTIONS = {
    f.name: typing.get_type_hints(Config)[f.name]
    for f in dataclasses.fields(Config)
    if f.name != "source"
}
KEYS = {s: [f.name for f in dataclasses.fields(tp)] for s, tp in SECTIONS.items()}

# Every value TOML can produce (tomllib types), nested a little.
SCALAR = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=10),
    st.dates(),
    st.datetimes(),
    st.times(),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def config_dicts(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for section in draw(st.sets(st.sampled_from(sorted(SECTIONS)), max_size=4)):
        if draw(st.integers(0, 9)) == 0:
            data[section] = draw(VALUE)  # not even a table
            continue
        keys = draw(st.sets(st.sampled_from(KEYS[section]), max_size=4))
        data[section] = {k: draw(VALUE) for k in keys}
    if draw(st.booleans()):
        data[draw(st.text(min_size=1, max_size=6))] = draw(VALUE)  # unknown section, maybe
    return data


def named(exc: ConfigError, data: dict[str, Any]) -> bool:
    """The message names a section or section.key present in the input."""
    msg = str(exc)
    for section, table in data.items():
        if section in msg:
            return True
        if isinstance(table, dict) and any(f"{section}.{k}" in msg for k in table):
            return True
    return False


@SETTINGS
@given(config_dicts())
def test_random_tables_build_or_raise_config_error_naming_the_key(data: dict[str, Any]) -> None:
    try:
        cfg = parse_config(data, source="x.toml")
    except ConfigError as exc:
        assert str(exc).startswith("x.toml: ")
        assert named(exc, data), str(exc)
        return
    assert isinstance(cfg, Config)


SCALAR_KEYS = [
    (s, f.name, typing.get_type_hints(tp)[f.name])
    for s, tp in SECTIONS.items()
    for f in dataclasses.fields(tp)
    if typing.get_type_hints(tp)[f.name] in (str, int, float, bool)
]
WRONG = {
    str: [1, 1.5, True, [], {}, date(2026, 1, 1)],
    int: ["3", 1.5, True, [], {}, time(1, 2)],
    float: ["3", True, [], {}, datetime(2026, 1, 1)],
    bool: ["true", 1, 0.0, [], {}],
}


@pytest.mark.parametrize(("section", "key", "tp"), SCALAR_KEYS)
def test_every_scalar_key_rejects_every_wrong_type_by_name(section: str, key: str, tp: Any) -> None:
    for bad in WRONG[tp]:
        with pytest.raises(ConfigError, match=re.escape(f"{section}.{key} must be")):
            parse_config({section: {key: bad}}, source="c.toml")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"mapping": {"marketplaces": {"ATVPDKIKX0DER": {"currency": "USD"}}}}, "customer"),
        ({"mapping": {"marketplaces": {"X": []}}}, "mapping.marketplaces"),
        ({"mapping": {"sku": {"SKU-A": 42}}}, "mapping.sku.SKU-A"),
        ({"mapping": {"settlement": [{"account": 4000, "amount_type": "x"}]}}, "account"),
        ({"mapping": {"settlement": ["4000"]}}, "mapping.settlement"),
        ({"amazon": {"marketplaces": "ATVPDKIKX0DER"}}, "amazon.marketplaces"),
        ({"amazon": {"marketplaces": [1, 2]}}, "amazon.marketplaces"),
        ({"engine": []}, "[engine]"),
        ({"enginee": {}}, "[enginee]"),
        ({"engine": {"dbb": "x"}}, "engine.dbb"),
    ],
)
def test_nested_bad_values_name_the_key(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="c.toml")
    assert where in str(info.value)


TOML_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            ["[engine]", "[dispatch]", "[mapping.sku]", "db = 1", 'db = "x"', "concurrency = 2.5",
             "concurrency = 3", '"SKU-A" = "10-1000"', "[[mapping.settlement]]", "account = 5",
             "x = [", "a = 1979-05-27", 'qad_burst = "10"', "[inventory]", 'mfn_mode = "both"',
             "\x00", "\ufeff", "[engine", "= 1"]
        ),
        max_size=8,
    ).map("\n".join),
)  # fmt: skip


@SETTINGS
@given(TOML_TEXT, st.sampled_from(["utf-8", "cp1252", "utf-16"]))
def test_load_config_on_any_file_contents_is_config_error_or_config(text: str, enc: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.toml"
        path.write_bytes(text.encode(enc, errors="replace"))
        try:
            cfg = load_config(path, env={})
        except ConfigError as exc:
            assert str(path) in str(exc)
            return
    assert isinstance(cfg, Config)


def test_deeply_nested_toml_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_config(path, env={})


def test_missing_file_and_directory_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ML_CONNECTOR_DISPATCH_CONCURRENCY", "four"),
        ("ML_CONNECTOR_POLL_ORDERS_EVERY_S", "soon"),
        ("ML_CONNECTOR_MAPPING_SKU", "a=b"),
    ],
)
def test_bad_environment_overrides_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(var)):
        parse_config({}, source="c.toml", env={var: value})
