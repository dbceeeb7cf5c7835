"""PII sealing in the event log: nothing readable in raw bytes, deterministic, purge shreds keys."""

from datetime import UTC, datetime, timedelta

import aiosqlite
import pytest

from engine.errors import CredentialError, DataError
from engine.log.records import NewEvent
from engine.log.sqlite import SQLiteEventLog
from engine.security.keys import generate_key
from engine.security.pii import PiiSealer, is_envelope

ADDRESS = {
    "Name": "Zelda Quixote-Plantagenet",
    "AddressLine1": "742 Evergreen Terrace",
    "City": "Springfield",
    "PostalCode": "49007",
    "Phone": "+1-555-0199-4242",
}
PLANTED = [b"Zelda", b"Quixote", b"Evergreen", b"555-0199"]


def raw_bytes(path):
    data = path.read_bytes()
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")):
        if extra.exists():
            data += extra.read_bytes()
    return data


async def test_seal_in_log_not_readable_in_raw_bytes_and_opens(tmp_path):
    key = generate_key()
    db = tmp_path / "log.db"
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        env = await sealer.seal("111-2222222-3333333", ADDRESS)
        assert is_envelope(env)
        await log.append(
            [NewEvent("amazon.orders", "OrderFetched", "111-2222222-3333333", {"addr": env})]
        )
        stored = [e async for e in log.read()]
        assert await sealer.open(stored[0].payload["addr"]) == ADDRESS
    data = raw_bytes(db)
    for planted in PLANTED:
        assert planted not in data


async def test_seal_is_deterministic_per_record_and_changes_with_value(tmp_path):
    key = generate_key()
    async with PiiSealer.connect(tmp_path / "log.db", key) as sealer:
        a1 = await sealer.seal("order-1", ADDRESS)
        a2 = await sealer.seal("order-1", dict(reversed(list(ADDRESS.items()))))
        assert a1 == a2  # same value, same record: identical envelope (dedup keeps working)
        changed = await sealer.seal("order-1", {**ADDRESS, "City": "Shelbyville"})
        assert changed != a1 and changed["kid"] == a1["kid"]
        other = await sealer.seal("order-2", ADDRESS)
        assert other["kid"] != a1["kid"] and other["ct"] != a1["ct"]
    # A second process (new connection, same key) reuses the stored data key.
    async with PiiSealer.connect(tmp_path / "log.db", key) as sealer:
        assert await sealer.seal("order-1", ADDRESS) == a1


async def test_envelope_bound_to_its_record_and_tamper_evident(tmp_path):
    async with PiiSealer.connect(tmp_path / "log.db", generate_key()) as sealer:
        env = await sealer.seal("order-1", ADDRESS)
        await sealer.seal("order-2", ADDRESS)
        with pytest.raises(DataError, match="another record"):
            await sealer.open(env, record_key="order-2")
        moved = {**env, "rk": "order-2"}  # claims another record: kid no longer matches
        with pytest.raises(DataError):
            await sealer.open(moved)
        forged = {**env, "kid": sealer.key_id("order-2"), "rk": "order-2"}
        with pytest.raises(DataError, match="tampered"):
            await sealer.open(forged)
        ct = env["ct"]
        flipped = {**env, "ct": ("A" if ct[0] != "A" else "B") + ct[1:]}
        with pytest.raises(DataError, match="tampered"):
            await sealer.open(flipped)


async def test_wrong_master_key_is_clear(tmp_path):
    async with PiiSealer.connect(tmp_path / "log.db", generate_key()) as sealer:
        env = await sealer.seal("order-1", ADDRESS)
    async with PiiSealer.connect(tmp_path / "log.db", generate_key()) as other:
        with pytest.raises(CredentialError, match="master key"):
            await other.open(env)
        with pytest.raises(CredentialError, match="master key"):
            await other.seal("order-1", ADDRESS)


async def test_rewrap_moves_keys_to_new_master_key(tmp_path):
    db = tmp_path / "log.db"
    old, new = generate_key(), generate_key()
    async with PiiSealer.connect(db, old) as sealer:
        env = await sealer.seal("order-1", ADDRESS)
        purged = await sealer.seal("order-2", ADDRESS)
        await sealer.purge(datetime.now(UTC) + timedelta(days=1))
        env = await sealer.seal("order-3", ADDRESS)
        assert await sealer.rewrap(new) == 1
        assert await sealer.open(env) == ADDRESS
    async with PiiSealer.connect(db, new) as sealer:
        assert await sealer.open(env) == ADDRESS
        assert await sealer.seal("order-3", ADDRESS) == env  # same envelope: no new events
        assert await sealer.open(purged) is None
    async with PiiSealer.connect(db, old) as sealer:
        with pytest.raises(CredentialError):
            await sealer.open(env)


async def test_purge_shreds_old_keys_log_stays_intact(tmp_path):
    key = generate_key()
    db = tmp_path / "log.db"
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        old = await sealer.seal("order-old", ADDRESS)
        await log.append(
            [
                NewEvent("amazon.orders", "OrderFetched", "order-old", {"total": "9.99", "a": old}),
                NewEvent("amazon.inventory", "InventoryFetched", "SKU-1", {"qty": 5}),
            ]
        )
        wrapped_old = (await log.query("SELECT wrapped FROM pii_keys"))[0][0]
        cutoff = datetime.now(UTC) + timedelta(seconds=1)
        # A key created after the cutoff must survive.
        async with log.transaction() as tx:
            await tx.execute("UPDATE pii_keys SET created_at = '2000-01-01T00:00:00.000000Z'")
        fresh = await sealer.seal("order-new", ADDRESS)
        assert await sealer.purge(older_than=cutoff - timedelta(seconds=1)) == 1
        assert await sealer.purge(older_than=cutoff - timedelta(seconds=1)) == 0
        events = [e async for e in log.read()]
        assert [e.key for e in events] == ["order-old", "SKU-1"]
        assert events[0].payload["total"] == "9.99" and events[1].payload == {"qty": 5}
        assert await sealer.open(events[0].payload["a"]) is None
        assert await sealer.open(fresh) == ADDRESS
        # Re-sealing a purged record never re-collects the address (deterministic tombstone).
        again = await sealer.seal("order-old", ADDRESS)
        assert again.get("purged") is True and "ct" not in again
        assert again == await sealer.seal("order-old", ADDRESS)
    assert wrapped_old not in raw_bytes(db)


async def test_purge_via_connection_and_rows_keep_tombstones(tmp_path):
    db = tmp_path / "log.db"
    key = generate_key()
    async with PiiSealer.connect(db, key) as sealer:
        env = await sealer.seal("o1", ADDRESS)
        assert await sealer.purge(datetime.now(UTC) + timedelta(days=1)) == 1
        assert await sealer.open(env) is None
    async with aiosqlite.connect(db) as conn:
        rows = await conn.execute_fetchall("SELECT key_id, wrapped FROM pii_keys")
    assert len(rows) == 1 and rows[0][1] is None
