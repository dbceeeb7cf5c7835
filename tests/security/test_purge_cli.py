"""`ml-connector purge-pii`: old addresses become unreadable, the log still replays."""

import pytest

from engine.cli import main
from engine.log.records import NewEvent
from engine.log.sqlite import SQLiteEventLog
from engine.security.keys import encode_key, generate_key
from engine.security.pii import PiiSealer

ADDRESS = {"Name": "Ottoline Vandermeer", "AddressLine1": "9 Harbour Row"}


@pytest.fixture
def key(monkeypatch):
    k = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(k))
    return k


async def seed(db, key):
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        old = await sealer.seal("o-old", ADDRESS)
        async with log.transaction() as tx:  # age the first key by 40 days
            await tx.execute("UPDATE pii_keys SET created_at = '2000-01-01T00:00:00.000000Z'")
        new = await sealer.seal("o-new", ADDRESS)
        await log.append(
            [
                NewEvent("amazon.orders", "OrderFetched", "o-old", {"n": 1, "ship": old}),
                NewEvent("amazon.orders", "OrderFetched", "o-new", {"n": 2, "ship": new}),
            ]
        )
    return old, new


async def read_back(db, key):
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        events = [e async for e in log.read()]
        return [(e.payload["n"], await sealer.open(e.payload["ship"])) for e in events]


def test_purge_pii_cli(tmp_path, key, capsys):
    import asyncio

    db = tmp_path / "log.db"
    asyncio.run(seed(db, key))
    assert main(["purge-pii", "--db", str(db), "--older-than", "30"]) == 0
    assert "purged 1" in capsys.readouterr().out
    assert asyncio.run(read_back(db, key)) == [(1, None), (2, ADDRESS)]
    assert b"Vandermeer" not in db.read_bytes()


def test_purge_pii_errors_exit_2(tmp_path, key, capsys):
    assert main(["purge-pii", "--db", str(tmp_path / "none.db"), "--older-than", "3"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x.db").write_bytes(b"")
    assert main(["purge-pii", "--db", str(tmp_path / "x.db"), "--older-than", "-1"]) == 2
