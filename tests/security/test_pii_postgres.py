"""PII data keys through the event log on both backends: SQLite and a real PostgreSQL.

1. Seal, read back, purge: the record's envelopes no longer open and its wrapped key is NULL,
   also after reopening the log (another process's view).
2. Two sealers racing to create the key of one record never leave an envelope that does not
   open: on PostgreSQL (two pools = two processes) the loser adopts the stored key; on SQLite
   (one writer) a second key for the record makes every commit fail instead.
3. PostgreSQL purge rewrites the table (VACUUM FULL: a new relfilenode, the old wrapped bytes
   are gone from the table file, while a bare UPDATE leaves them there) and CHECKPOINTs only
   when the role may.
4. ``purge-pii --db postgresql://...`` works (``creds rotate-key``: test_rotate_key_postgres.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.errors import StoreError
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.security.keys import encode_key, generate_key
from engine.security.pii import PiiSealer
from engine.security.pii_keys import LogStore

ADDRESS = {"Name": "Ingeborg Vasquez-Holloway", "AddressLine1": "3 Tidewater Close"}
OLD = datetime(2001, 2, 3, tzinfo=UTC)
NOW = datetime.now(UTC)
CUTOFF = NOW - timedelta(days=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    return str(request.getfixturevalue("pg_dsn"))  # skips with the reason without a server


def opened(target: str) -> AbstractAsyncContextManager[EventLog]:
    return open_event_log(target)


async def wrapped_of(log: EventLog, sealer: PiiSealer, record_key: str) -> list[Any]:
    sql = "SELECT wrapped FROM pii_keys WHERE key_id = ?"
    return [r[0] for r in await log.query(sql, (sealer.key_id(record_key),))]


def order(key: str, envelope: dict[str, Any]) -> NewEvent:
    return NewEvent("amazon.orders", "OrderFetched", key, {"ship_to": envelope})


# -- 1. seal, read, purge ------------------------------------------------------------------------


async def test_seal_read_back_purge_and_it_never_opens_again(target: str) -> None:
    key = generate_key()
    async with opened(target) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        await sealer.ensure_schema()  # idempotent: every engine start runs it
        old = await sealer.seal("o-old", ADDRESS, record_date=OLD)
        new = await sealer.seal("o-new", ADDRESS, record_date=NOW)
        await log.append([order("o-old", old), order("o-new", new)])
        assert await sealer.open(old) == ADDRESS
        assert await sealer.purge(CUTOFF) == 1
        assert await sealer.open(old) is None
        assert await sealer.open(new) == ADDRESS
        assert await wrapped_of(log, sealer, "o-old") == [None]
        assert await sealer.seal("o-old", ADDRESS) == {
            "pii": 1,
            "kid": sealer.key_id("o-old"),
            "rk": "o-old",
            "purged": True,
        }  # the tombstone stays: no new key is made for a purged record
    async with opened(target) as log:  # a later process sees the same
        sealer = PiiSealer.from_log(log, key)
        events = {e.key: e.payload["ship_to"] async for e in log.read()}
        assert await sealer.open(events["o-old"]) is None
        assert await sealer.open(events["o-new"]) == ADDRESS
        assert await wrapped_of(log, sealer, "o-old") == [None]


async def test_postgresql_schema_has_record_date_and_no_statistics_on_wrapped(
    pg_dsn: str,
) -> None:
    async with opened(pg_dsn) as log:
        # A table made before record_date existed gets the column (no PRAGMA on PostgreSQL).
        await log.ensure_schema(
            "CREATE TABLE pii_keys (key_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, "
            "wrapped BYTEA)",
            native=True,
        )
        sealer = PiiSealer.from_log(log, generate_key())
        await sealer.ensure_schema()
        await sealer.seal("o-1", ADDRESS, record_date=OLD)
        columns = await log.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'pii_keys'"
        )
        assert {r[0] for r in columns} == {"key_id", "created_at", "wrapped", "record_date"}
        stats = await log.query(
            "SELECT attstattarget FROM pg_attribute "
            "WHERE attrelid = 'pii_keys'::regclass AND attname = 'wrapped'"
        )
        assert stats == [(0,)]  # ANALYZE copies no sample of wrapped keys into pg_statistic
        assert await sealer.purge(CUTOFF) == 1  # dated by record_date, on the migrated table


# -- 2. racing creators --------------------------------------------------------------------------


class MissesFirstLookUp(LogStore):
    """Its first look-up of each key misses: as if another writer stored the key just after."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(log)
        self.missed: set[str] = set()

    async def get(self, kid: str) -> tuple[bool, bytes | None]:
        if kid not in self.missed:
            self.missed.add(kid)
            return False, None
        return await super().get(kid)


@asynccontextmanager
async def second_writer(target: str, first: EventLog) -> AsyncIterator[EventLog]:
    """PostgreSQL: its own pool (another process's worth). SQLite: one writer per file, so the
    second sealer shares the log (its flock refuses a second writer open)."""
    if first.capabilities.backend == "sqlite":
        yield first
        return
    async with opened(target) as log:
        yield log


async def test_a_key_stored_meanwhile_never_leaves_an_unopenable_envelope(
    target: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = generate_key()
    async with opened(target) as log_a, second_writer(target, log_a) as log_b:
        a = PiiSealer.from_log(log_a, key)
        await a.ensure_schema()
        ours = await a.seal("o-1", ADDRESS)
        await log_a.append([order("o-1", ours)])  # A's key is committed
        b = PiiSealer(MissesFirstLookUp(log_b), key)
        if log_a.capabilities.backend == "postgresql":
            with caplog.at_level(logging.DEBUG, logger="engine.security.pii_keys"):
                theirs = await b.seal("o-1", ADDRESS)
            assert "adopting" in caplog.text  # B's insert was ignored and it noticed
            assert theirs == ours  # sealed with the stored key, not B's fresh one
            await log_b.append([order("o-1-again", theirs)])
        else:
            # The commit hook stages B's key and the envelope is already sealed with it: the
            # next commit meets A's row, rolls back, and this log refuses writes from then on,
            # so B's envelope can never reach the log.
            theirs = await b.seal("o-1", ADDRESS)
            assert theirs != ours
            with pytest.raises(StoreError, match="another writer"):
                await log_b.append([order("o-1-again", theirs)])
            with pytest.raises(StoreError, match="another writer"):
                await log_a.append([order("o-2", ours)])
        stored = [e.payload["ship_to"] async for e in log_a.read()]
        assert stored
        for envelope in stored:  # every committed envelope opens, with either sealer
            assert await a.open(envelope) == ADDRESS
            assert await PiiSealer.from_log(log_b, key).open(envelope) == ADDRESS
        rows = await log_a.query("SELECT count(*) FROM pii_keys")
        assert rows == [(1,)]


async def test_postgresql_two_processes_race_for_the_same_records(pg_dsn: str) -> None:
    key = generate_key()
    records = [f"o-{i}" for i in range(25)]
    async with opened(pg_dsn) as log_a, opened(pg_dsn) as log_b:
        a, b = PiiSealer.from_log(log_a, key), PiiSealer.from_log(log_b, key)
        await asyncio.gather(a.ensure_schema(), b.ensure_schema())

        async def seal_all(sealer: PiiSealer, log: EventLog) -> list[dict[str, Any]]:
            out = []
            for rk in records:
                envelope = await sealer.seal(rk, ADDRESS)
                await log.append([order(f"{rk}-{id(sealer)}", envelope)])
                out.append(envelope)
            return out

        from_a, from_b = await asyncio.gather(seal_all(a, log_a), seal_all(b, log_b))
        assert from_a == from_b  # one stored key per record, so identical envelopes
        fresh = PiiSealer.from_log(log_a, key)
        for envelope in [e.payload["ship_to"] async for e in log_b.read()]:
            assert await fresh.open(envelope) == ADDRESS
        rows = await log_a.query("SELECT count(*) FROM pii_keys")
        assert rows == [(len(records),)]


# -- 3. the PostgreSQL rewrite -------------------------------------------------------------------


async def table_file(log: EventLog) -> bytes:
    rows = await log.query("SELECT pg_read_binary_file(pg_relation_filepath('pii_keys'))")
    return bytes(rows[0][0])


def as_admin(dsn: str, *statements: str) -> None:
    """Run ``statements`` as the fixture's role; skip unless it is a superuser."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        if not (row and row[0]):
            pytest.skip("creating a role needs a superuser (ML_CONNECTOR_TEST_PG_DSN)")
        for statement in statements:
            conn.execute(statement)


def as_role(dsn: str, role: str) -> str:
    """The fixture's DSN (postgresql://user@host:port/db, trust auth) for another role."""
    return f"postgresql://{role}@{dsn.split('@', 1)[1]}"


async def is_superuser(log: EventLog) -> bool:
    rows = await log.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    return bool(rows[0][0])


async def test_postgresql_purge_rewrites_the_table_and_checkpoints(pg_dsn: str) -> None:
    key = generate_key()
    async with opened(pg_dsn) as log:
        if not await is_superuser(log):
            pytest.skip("reading the table file needs a superuser (ML_CONNECTOR_TEST_PG_DSN)")
        store = LogStore(log)
        sealer = PiiSealer(store, key)
        await sealer.ensure_schema()
        for rk in ("o-purged", "o-control"):
            await sealer.seal(rk, ADDRESS, record_date=OLD)
        purged = (await wrapped_of(log, sealer, "o-purged"))[0]
        control = (await wrapped_of(log, sealer, "o-control"))[0]
        # Control: a bare UPDATE leaves the old row version, wrapped key and all, in the file.
        async with log.transaction() as tx:
            sql = "UPDATE pii_keys SET wrapped = NULL WHERE key_id = ?"
            await tx.execute(sql, (sealer.key_id("o-control"),))
        await log.maintain("CHECKPOINT")  # type: ignore[attr-defined]  # flush to the file
        on_disk = await table_file(log)
        assert control in on_disk and purged in on_disk
        before = await log.query("SELECT pg_relation_filenode('pii_keys')")
        assert await sealer.purge(CUTOFF) == 1  # o-control was already NULL
        after = await log.query("SELECT pg_relation_filenode('pii_keys')")
        assert after != before  # VACUUM FULL wrote a new file
        on_disk = await table_file(log)
        assert purged not in on_disk and control not in on_disk
        assert "VACUUM FULL and checkpointed" in store.erasure
        assert await sealer.open(await sealer.seal("o-purged", ADDRESS)) is None


async def test_postgresql_purge_without_checkpoint_privilege_says_so(
    pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    role = f"nocp_{uuid.uuid4().hex[:10]}"
    # Before any log exists: this role creates (and so owns) every table, VACUUM FULL included.
    as_admin(pg_dsn, f"CREATE ROLE {role} LOGIN", f"GRANT CREATE ON SCHEMA public TO {role}")
    async with opened(as_role(pg_dsn, role)) as log:
        store = LogStore(log)
        sealer = PiiSealer(store, generate_key())
        await sealer.ensure_schema()
        await sealer.seal("o-1", ADDRESS, record_date=OLD)
        with caplog.at_level(logging.WARNING, logger="engine.security.pii_keys"):
            assert await sealer.purge(CUTOFF) == 1
        assert "CHECKPOINT skipped" in caplog.text
        assert "CHECKPOINT skipped" in store.erasure
        assert await wrapped_of(log, sealer, "o-1") == [None]


async def test_postgresql_purge_fails_loudly_when_vacuum_cannot_rewrite(pg_dsn: str) -> None:
    engine, keeper = (f"{who}_{uuid.uuid4().hex[:10]}" for who in ("eng", "keeper"))
    as_admin(pg_dsn, f"CREATE ROLE {engine} LOGIN", f"GRANT CREATE ON SCHEMA public TO {engine}")
    async with opened(as_role(pg_dsn, engine)) as log:
        sealer = PiiSealer.from_log(log, generate_key())
        await sealer.ensure_schema()
        await sealer.seal("o-1", ADDRESS, record_date=OLD)
    # pii_keys handed to another owner; the engine's role may still write it.
    as_admin(
        pg_dsn,
        f"CREATE ROLE {keeper}",
        f"ALTER TABLE pii_keys OWNER TO {keeper}",
        f"GRANT SELECT, INSERT, UPDATE ON pii_keys TO {engine}",
    )
    async with opened(as_role(pg_dsn, engine)) as log:
        # VACUUM by a non-owner is only a WARNING and rewrites nothing [D]: must not pass.
        with pytest.raises(StoreError, match=r"PII purge NOT verified: 1 key.*did not rewrite"):
            await PiiSealer.from_log(log, generate_key()).purge(CUTOFF)
        assert await wrapped_of(log, sealer, "o-1") == [None]  # destroyed; rerun after fixing


# -- 4. the commands -----------------------------------------------------------------------------


def test_purge_pii_cli_on_a_postgresql_url(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))

    async def seed() -> None:
        async with opened(pg_dsn) as log:
            sealer = PiiSealer.from_log(log, key)
            await sealer.ensure_schema()
            old = await sealer.seal("o-old", ADDRESS, record_date=OLD)
            new = await sealer.seal("o-new", ADDRESS, record_date=NOW)
            await log.append([order("o-old", old), order("o-new", new)])

    async def read_back() -> list[Any]:
        async with opened(pg_dsn) as log:
            sealer = PiiSealer.from_log(log, key)
            return [await sealer.open(e.payload["ship_to"]) async for e in log.read()]

    asyncio.run(seed())
    assert main(["purge-pii", "--db", pg_dsn, "--older-than", "30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("purged 1 buyer-PII keys")
    assert "VACUUM FULL" in out and "postgresql://127.0.0.1:" in out
    assert asyncio.run(read_back()) == [None, ADDRESS]
