"""``[engine] db = "postgresql://..."``: recognised, and refused before anything runs while only
the event log is ported (issue 20, first step): never a half-run engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config, parse_config
from engine.errors import ConfigError
from tests.e2e.configfile import run_cli


@pytest.mark.parametrize(
    "url", ["postgresql://db.example.com:5433/mlc", "postgres://db.example.com/mlc?sslmode=require"]
)
def test_a_postgresql_url_is_refused_naming_what_is_not_ported(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"engine": {"db": url}})
    message = str(info.value)
    assert "engine.db" in message and "PostgreSQL event log, a preview" in message
    assert "replay" in message and "run --worker" in message
    assert "db.example.com" in message


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="must not carry a password") as info:
        parse_config({"engine": {"db": "postgresql://mlc:hunter2-secret@db/mlc"}})
    assert "hunter2-secret" not in str(info.value)


def test_the_environment_override_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[engine]\ndb = "events.db"\n')
    assert load_config(path).engine.db == str(tmp_path / "events.db")
    with pytest.raises(ConfigError, match="preview"):
        load_config(path, env={"ML_CONNECTOR_ENGINE_DB": "postgresql://localhost/mlc"})


async def test_sync_with_a_postgresql_log_exits_2_before_touching_anything(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[engine]\ndb = "postgresql://127.0.0.1:1/mlc"\n')
    code, _out, err = await run_cli("sync", "--config", str(path), "--once")
    assert code == 2 and "PostgreSQL event log, a preview" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


@pytest.mark.parametrize("name", ["Acme", "1acme", "acme-eu", "a" * 51, "acme eu"])
def test_a_partition_name_that_cannot_name_a_schema_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"engine.partition must be 1-50 lower-case"):
        parse_config({"engine": {"partition": name}})


def test_a_partition_with_an_sqlite_log_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs \\[engine\\] db to be a PostgreSQL URL"):
        parse_config({"engine": {"db": "events.db", "partition": "acme_eu"}})
    assert parse_config({"engine": {"db": "events.db"}}).engine.partition == ""
