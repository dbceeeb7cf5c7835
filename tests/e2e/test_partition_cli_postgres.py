"""A partition's log seen through the CLI: a config whose ``[engine] partition`` is set, and a
``--db postgresql://.../db#partition``, open that partition's schema in every command, never the
database's default schema or another partition's."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.config import load_config, to_toml
from engine.config.database import with_partition
from engine.errors import StoreError
from engine.log.opening import open_event_log
from tests.e2e.configfile import run_cli


async def test_status_and_rebuild_open_the_partition_the_config_names(make_world, pg_dsn) -> None:
    async with make_world() as w:
        base = w.config()
        cfg = dataclasses.replace(
            base,
            engine=dataclasses.replace(base.engine, db=pg_dsn, partition="acme_eu"),
            poll=dataclasses.replace(base.poll, raw_dir=str(w.tmp / "raw")),
        )
        path = w.tmp / "acme_eu.toml"
        path.write_text(to_toml(cfg), encoding="utf-8")
        loaded = load_config(path)
        assert loaded.engine.db == with_partition(pg_dsn, "acme_eu")
        async with w.engine(loaded) as eng:
            report = await eng.sync_once()
            assert report.dispatched.get("ok", 0) > 10
        with pytest.raises(StoreError, match="not an event log"):  # nothing in the default schema
            async with open_event_log(pg_dsn, readonly=True):
                pass
        async with open_event_log(loaded.engine.db, readonly=True) as log:
            head = await log.head()
        assert head > 50

        code, out, err = await run_cli("status", "--db", loaded.engine.db, "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert head in (shown.get("head"), shown.get("log", {}).get("head")), shown
        code, out, err = await run_cli("rebuild", "--config", str(path), "--dry-run")
        assert code == 0, err
        assert "events re-projected" in out
        assert "would add 0 new commands" in out
