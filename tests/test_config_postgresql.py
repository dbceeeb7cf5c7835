"""``[engine] db = "postgresql://..."`` and ``[engine] partition``: what config can check before
anything connects (the URL parses, carries no password, names a usable partition)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config, parse_config
from engine.errors import ConfigError
from tests.e2e.configfile import run_cli


@pytest.mark.parametrize(
    "url", ["postgresql://db.example.com:5433/mlc", "postgres://db.example.com/mlc?sslmode=require"]
)
def test_a_postgresql_url_selects_the_postgresql_log(url: str) -> None:
    cfg = parse_config({"engine": {"db": url}})
    assert cfg.engine.db == url and cfg.engine.partition == ""


@pytest.mark.parametrize("url", ["postgresql://db:notaport/mlc", "postgresql://db:99999/mlc"])
def test_an_unusable_url_is_refused_before_anything_connects(url: str) -> None:
    with pytest.raises(ConfigError, match="not a usable PostgreSQL URL"):
        parse_config({"engine": {"db": url}})


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="must not carry a password") as info:
        parse_config({"engine": {"db": "postgresql://mlc:hunter2-secret@db/mlc"}})
    assert "hunter2-secret" not in str(info.value)


def test_the_environment_override_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[engine]\ndb = "events.db"\n')
    assert load_config(path).engine.db == str(tmp_path / "events.db")
    with pytest.raises(ConfigError, match="must not carry a password"):
        load_config(path, env={"ML_CONNECTOR_ENGINE_DB": "postgresql://u:pw@localhost/mlc"})
    cfg = load_config(path, env={"ML_CONNECTOR_ENGINE_DB": "postgresql://localhost/mlc#acme"})
    assert (cfg.engine.db, cfg.engine.partition) == ("postgresql://localhost/mlc#acme", "acme")


async def test_an_unreachable_database_exits_1_in_one_line(tmp_path: Path) -> None:
    code, _out, err = await run_cli("status", "--db", "postgresql://127.0.0.1:1/mlc#acme")
    assert code == 1, err
    assert "Traceback" not in err and "postgresql://127.0.0.1:1/mlc" in err
    assert len(err.strip().splitlines()) == 1


def test_a_partition_is_carried_by_the_database_url() -> None:
    cfg = parse_config({"engine": {"db": "postgresql://h/mlc", "partition": "acme_eu"}})
    assert (cfg.engine.db, cfg.engine.partition) == ("postgresql://h/mlc#acme_eu", "acme_eu")
    again = parse_config({"engine": {"db": cfg.engine.db, "partition": "acme_eu"}})
    assert again.engine.db == cfg.engine.db  # a round trip (to_toml) adds it once
    with pytest.raises(ConfigError, match="names partition 'acme_na' after #"):
        parse_config({"engine": {"db": "postgresql://h/mlc#acme_na", "partition": "acme_eu"}})
    with pytest.raises(ConfigError, match=r"the partition after # in engine.db must be"):
        parse_config({"engine": {"db": "postgresql://h/mlc#Acme"}})


@pytest.mark.parametrize("name", ["Acme", "1acme", "acme-eu", "a" * 51, "acme eu"])
def test_a_partition_name_that_cannot_name_a_schema_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"engine.partition must be 1-50 lower-case"):
        parse_config({"engine": {"partition": name}})


def test_a_partition_with_an_sqlite_log_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs \\[engine\\] db to be a PostgreSQL URL"):
        parse_config({"engine": {"db": "events.db", "partition": "acme_eu"}})
    assert parse_config({"engine": {"db": "events.db"}}).engine.partition == ""
