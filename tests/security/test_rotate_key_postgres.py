"""`creds rotate-key` on a PostgreSQL event log that running engines share: the fence.

engine/ops/rotate_key.py and engine/security/pii_keys_postgres.py: the rotation moves every PII
key and the log's ``pii_master`` fingerprint in one transaction under an exclusive advisory
lock; every new key is stored under the shared lock after comparing that fingerprint with its
own master key's. Crashes: test_rotate_key_postgres_crash.py.

1. After a rotation every record opens with the new key and none with the old (both backends).
2. An engine still holding the old key is refused in one line and stores nothing; a log made
   before the fence is claimed only by the master key that wraps its rows.
3. A seal in flight during the rotation either lands before the rewrap and is rewrapped, or is
   refused after it: two concurrent tasks and real lock waits, each seen in ``pg_locks``.
4. Refused in one line with nothing changed: a URL carrying a password, a database with no log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.errors import CredentialError
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.security.credentials import QadCredential
from engine.security.keys import encode_key, generate_key, load_master_key
from engine.security.pii import MasterKeyRotated, PiiSealer
from engine.security.pii_keys_postgres import ROTATED, ROTATION_LOCK, master_fingerprint
from engine.security.vault import Vault
from tests.security.rotate_pg_world import (
    ADDRESS,
    PASSWORD,
    RECORDS,
    fence,
    make_world,
    opens_all,
    order,
    refused_all,
    rotate,
    stored_keys,
)

# -- 1. every record moves ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "data" / "events.db")
    return str(request.getfixturevalue("pg_dsn"))  # skips with the reason without a server


def test_rotate_moves_every_record_to_the_new_key_and_none_opens_with_the_old(
    tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w = asyncio.run(make_world(tmp_path, target))
    for name, value in w.env.items():
        monkeypatch.setenv(name, value)
    assert main(["creds", "rotate-key", "--vault", str(w.vault), "--db", w.target]) == 0
    out = capsys.readouterr().out
    assert f"rewrapped {len(RECORDS)} PII data keys in {w.target}" in out
    assert ("copy" in out and "to every machine, then restart them" in out) == w.postgres
    new = load_master_key(w.env, create=False)
    assert new != w.old and not w.pending.exists() and not w.journal.exists()
    asyncio.run(opens_all(w, new))
    asyncio.run(refused_all(w, w.old))
    assert Vault.open(w.vault, new).get_qad("q").password == PASSWORD
    if w.postgres:

        async def fingerprint() -> list[tuple[Any, ...]]:
            async with open_event_log(w.target, readonly=True) as log:
                return await fence(log)

        stored = asyncio.run(fingerprint())
        assert stored == [(master_fingerprint(new),)]
        assert master_fingerprint(new) != master_fingerprint(w.old)
        assert new.hex() not in stored[0][0] and encode_key(new) not in stored[0][0]


# -- 2. an engine with the old key ----------------------------------------------------------


async def poll_batch(sealer: PiiSealer, log: EventLog, record: str) -> None:
    """What the orders poller does with one new MFN order: seal, then append it together with
    the watermark (engine/pollers/orders.py); a failing seal leaves both untouched."""
    envelope = await sealer.seal(record, ADDRESS)
    await log.append([order(envelope)], bookmark=("amazon.orders.NA", {"watermark": record}))


async def test_an_engine_still_holding_the_old_key_is_refused_and_stores_nothing(
    tmp_path: Path, pg_dsn: str
) -> None:
    w = await make_world(tmp_path, pg_dsn)
    async with open_event_log(pg_dsn) as engine_log:  # another process: its own pool
        engine = PiiSealer.from_log(engine_log, w.old)  # started before the rotation
        await engine.ensure_schema()
        await poll_batch(engine, engine_log, "o-before")
        assert await engine.open(w.envelopes["o-1"]) == ADDRESS
        await rotate(w)
        keys, head = await stored_keys(engine_log), await engine_log.head()
        with pytest.raises(MasterKeyRotated) as refused:
            await poll_batch(engine, engine_log, "o-after")
        assert str(refused.value) == ROTATED  # one line
        assert await stored_keys(engine_log) == keys  # no key stored ...
        assert await engine_log.head() == head  # ... no event ...
        assert await engine_log.bookmark("amazon.orders.NA") == {"watermark": "o-before"}
        with pytest.raises(MasterKeyRotated, match="restart with the new key"):
            await engine.seal("o-1", ADDRESS)  # a record whose key exists: refused as well
        with pytest.raises(MasterKeyRotated, match="restart with the new key"):
            await engine.open(w.envelopes["o-1"])  # a reader: a clear error, no garbage
        with pytest.raises(MasterKeyRotated, match="restart with the new key"):
            await engine.check_master()  # what Engine.open asks before its first poll
        restarted = PiiSealer.from_log(engine_log, load_master_key(w.env, create=False))
        await restarted.check_master()
        await poll_batch(restarted, engine_log, "o-after")  # the same batch, after the restart
        for event in [e async for e in engine_log.read()]:
            if event.payload["ship_to"]["rk"] != "o-purged":
                assert await restarted.open(event.payload["ship_to"]) == ADDRESS


async def test_a_log_from_before_the_fence_is_claimed_only_by_the_key_wrapping_it(
    pg_dsn: str,
) -> None:
    right, wrong = generate_key(), generate_key()
    async with open_event_log(pg_dsn) as log:
        sealer = PiiSealer.from_log(log, right)
        await sealer.ensure_schema()
        envelope = await sealer.seal("o-1", ADDRESS)
        async with log.transaction() as tx:  # as a log made before the fence (or migrated)
            await tx.execute("DELETE FROM pii_master")
        stranger = PiiSealer.from_log(log, wrong)
        with pytest.raises(CredentialError, match="cannot be unwrapped"):
            await stranger.seal("o-2", ADDRESS)  # must not fence the right key out
        assert await fence(log) == []
        assert [r[0] for r in await stored_keys(log)] == [sealer.key_id("o-1")]
        assert await sealer.open(await sealer.seal("o-2", ADDRESS)) == ADDRESS  # claims it
        assert await fence(log) == [(master_fingerprint(right),)]
        with pytest.raises(MasterKeyRotated):
            await stranger.seal("o-3", ADDRESS)
        assert await sealer.open(envelope) == ADDRESS


# -- 3. a seal in flight --------------------------------------------------------------------

_LOCKS = """
SELECT locktype, mode, granted FROM pg_locks
WHERE (locktype = 'advisory' AND classid = %s AND objsubid = 2
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
   OR locktype = 'transactionid'
"""
Locks = list[tuple[str, str, bool]]


async def until(dsn: str, seen: Callable[[Locks], bool], what: str) -> None:
    """Wait until ``pg_locks`` shows ``what`` (a real lock wait, not a sleep)."""
    import psycopg

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while True:
            cur = await conn.execute(_LOCKS, (ROTATION_LOCK,))
            rows = [(str(a), str(b), bool(c)) for a, b, c in await cur.fetchall()]
            if seen(rows):
                return
            assert loop.time() < deadline, f"never saw {what}: {rows}"
            await asyncio.sleep(0.02)


SEAL_HOLDS_FENCE = ("advisory", "ShareLock", True)
SEAL_WAITS_FENCE = ("advisory", "ShareLock", False)
ROTATION_HOLDS_FENCE = ("advisory", "ExclusiveLock", True)
ROTATION_WAITS_FENCE = ("advisory", "ExclusiveLock", False)
WAITS_FOR_A_TRANSACTION = ("transactionid", "ShareLock", False)


async def test_a_seal_in_flight_lands_before_the_rewrap_and_is_rewrapped(
    tmp_path: Path, pg_dsn: str
) -> None:
    import psycopg

    w = await make_world(tmp_path, pg_dsn)
    async with open_event_log(pg_dsn) as engine_log:
        engine = PiiSealer.from_log(engine_log, w.old)
        # Another writer's uncommitted key for the same record: the engine's INSERT waits for it
        # inside its fenced transaction, holding the shared lock (ON CONFLICT waits [D]).
        blocker = await psycopg.AsyncConnection.connect(pg_dsn)
        try:
            await blocker.execute(
                "INSERT INTO pii_keys (key_id, created_at, wrapped) VALUES (%s, %s, NULL)",
                (engine.key_id("o-flight"), "2000-01-01T00:00:00.000000Z"),
            )
            seal = asyncio.create_task(engine.seal("o-flight", ADDRESS))
            await until(
                pg_dsn,
                lambda r: SEAL_HOLDS_FENCE in r and WAITS_FOR_A_TRANSACTION in r,
                "the seal holding the fence",
            )
            rotation = asyncio.create_task(rotate(w))
            await until(pg_dsn, lambda r: ROTATION_WAITS_FENCE in r, "the rotation waiting")
            # A seal arriving now queues behind the waiting rotation instead of joining the
            # shared holders, so seals never starve the rotation.
            queued = asyncio.create_task(engine.seal("o-queued", ADDRESS))
            await until(pg_dsn, lambda r: SEAL_WAITS_FENCE in r, "the next seal queued")
            assert not seal.done() and not rotation.done() and not queued.done()
            await blocker.rollback()  # the other writer gives up: the engine's key goes in
        finally:
            await blocker.close()
        envelope = await seal
        done = await rotation
        with pytest.raises(MasterKeyRotated):
            await queued
        assert not await engine_log.query(
            "SELECT 1 FROM pii_keys WHERE key_id = ?", (engine.key_id("o-queued"),)
        )
    assert done.outcome == "replaced"
    assert done.rewrapped == {pg_dsn: len(RECORDS) + 1}  # the seal in flight was covered
    w.envelopes["o-flight"] = envelope
    await opens_all(w, load_master_key(w.env, create=False))
    await refused_all(w, w.old)


async def test_a_seal_arriving_during_the_rewrap_waits_and_is_refused_after_it(
    tmp_path: Path, pg_dsn: str
) -> None:
    import psycopg

    w = await make_world(tmp_path, pg_dsn)
    async with open_event_log(pg_dsn) as engine_log:
        engine = PiiSealer.from_log(engine_log, w.old)
        keys = await stored_keys(engine_log)
        # A row lock on one key: the rotation's UPDATE waits for it, inside its transaction,
        # holding the exclusive lock.
        blocker = await psycopg.AsyncConnection.connect(pg_dsn)
        try:
            await blocker.execute(
                "SELECT 1 FROM pii_keys WHERE key_id = %s FOR UPDATE",
                (engine.key_id("o-2"),),
            )
            rotation = asyncio.create_task(rotate(w))
            await until(
                pg_dsn,
                lambda r: ROTATION_HOLDS_FENCE in r and WAITS_FOR_A_TRANSACTION in r,
                "the rotation holding the fence",
            )
            seal = asyncio.create_task(engine.seal("o-late", ADDRESS))
            await until(pg_dsn, lambda r: SEAL_WAITS_FENCE in r, "the seal waiting")
            assert not seal.done() and not rotation.done()
            await blocker.commit()
        finally:
            await blocker.close()
        done = await rotation
        with pytest.raises(MasterKeyRotated) as refused:
            await seal
        assert str(refused.value) == ROTATED
        assert len(await stored_keys(engine_log)) == len(keys)  # it stored nothing
        assert not await engine_log.query(
            "SELECT 1 FROM pii_keys WHERE key_id = ?", (engine.key_id("o-late"),)
        )
    assert done.outcome == "replaced" and done.rewrapped == {pg_dsn: len(RECORDS)}
    await opens_all(w, load_master_key(w.env, create=False))
    await refused_all(w, w.old)


# -- 4. refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://engine:s3cret@db.example:5432/connector",
        "postgresql://engine@db.example:5432/connector?password=s3cret",
    ],
)
def test_a_url_with_a_password_is_refused_in_one_line_with_nothing_changed(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(generate_key()))
    vault = tmp_path / "vault.bin"
    assert main(["creds", "rotate-key", "--vault", str(vault), "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "must not carry a password" in err and "nothing changed" in err
    assert "s3cret" not in err
    assert not list(tmp_path.iterdir())


def test_a_database_without_an_event_log_is_refused_and_left_empty(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    key = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))
    vault = tmp_path / "vault.bin"
    Vault.open(vault, key, create=True).put(
        QadCredential("q", "https://acme.qad.com/clouderp", "u", PASSWORD, "10USA", "10USACO")
    )
    before = vault.read_bytes()
    assert main(["creds", "rotate-key", "--vault", str(vault), "--db", pg_dsn]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an event log" in err and "nothing changed" in err
    assert vault.read_bytes() == before
    with psycopg.connect(pg_dsn) as conn:  # a wrong --db: no log was created there
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
