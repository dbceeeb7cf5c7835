"""purge-pii verifies the erasure on disk and ages keys by the ORDER date (real SQLite files).

1. A reader holding a read transaction pins old page images that still carry the wrapped keys
   (main file and WAL), so the WAL checkpoint cannot complete: purge-pii must fail loudly (one
   line, exit 1, "a reader holds the event log open ... stop the engine") instead of reporting
   success, and succeed once the reader is gone, after which the wrapped key bytes are nowhere
   in the db file or its -wal.
2. The age is the order's PurchaseDate, stored with the key (``pii_keys.record_date``): an order
   purchased 40 days ago but first fetched today is purged by ``--older-than 30``. Keys stored
   before the column existed fall back to their creation time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.cli import main
from engine.errors import StoreError
from engine.log.records import NewEvent
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.orders import OrdersPollConfig, OrdersPoller
from engine.security import pii
from engine.security.keys import encode_key, generate_key
from engine.security.pii import PiiSealer
from engine.sim.amazon import AmazonSimulator
from tests.amazon.conftest import make_client

ADDRESS = {"name": "Philippa Oosterhuis-Wendt", "address_line1": "17 Lantern Quay"}
OLD = "2000-01-01T00:00:00.000000Z"

pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
    pytest.mark.filterwarnings("ignore:Changing state of started:DeprecationWarning"),
]


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    k = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(k))
    return k


@pytest.fixture(autouse=True)
def _short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # A held reader makes the checkpoint wait this long before it gives up (default 5 s).
    monkeypatch.setattr(pii, "CHECKPOINT_WAIT_S", 0.3, raising=False)


def on_disk(db: Path) -> bytes:
    """The db file and its -wal, as a forensic reader of the disk would see them."""
    data = db.read_bytes()
    wal = db.with_name(db.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def seed(db: Path, key: bytes) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """An old key (created 2000) and a fresh one; returns the old wrapped bytes + envelopes."""
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        old = await sealer.seal("o-old", ADDRESS)
        async with log.transaction() as tx:
            await tx.execute("UPDATE pii_keys SET created_at = ?", (OLD,))
        new = await sealer.seal("o-new", ADDRESS)
        await log.append(
            [
                NewEvent("amazon.orders", "OrderFetched", "o-old", {"ship_to": old}),
                NewEvent("amazon.orders", "OrderFetched", "o-new", {"ship_to": new}),
            ]
        )
        [(wrapped,)] = await log.query(
            "SELECT wrapped FROM pii_keys WHERE key_id = ?", (sealer.key_id("o-old"),)
        )
    assert isinstance(wrapped, bytes) and len(wrapped) == 60
    return wrapped, old, new


@pytest.fixture
def reader() -> Iterator[list[sqlite3.Connection]]:
    held: list[sqlite3.Connection] = []
    yield held
    for conn in held:
        conn.close()


def hold_read_transaction(db: Path, held: list[sqlite3.Connection]) -> sqlite3.Connection:
    """Another connection (a status/audit run, an sqlite3 shell) in the middle of a read."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    assert conn.execute("SELECT count(*) FROM pii_keys").fetchone() == (2,)
    held.append(conn)
    return conn


def test_purge_fails_loudly_while_a_reader_holds_the_log_then_erases_for_real(
    tmp_path: Path, key: bytes, reader: list[sqlite3.Connection], capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "events.db"
    wrapped, old, new = asyncio.run(seed(db, key))
    assert wrapped in on_disk(db)
    conn = hold_read_transaction(db, reader)

    code = main(["purge-pii", "--db", str(db), "--older-than", "30"])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert "purged" not in out  # no success claimed
    line = err.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "reader holds the event log open" in line and "stop the engine" in line
    assert "1 key(s) destroyed" in line
    # What the old code called success: the wrapped key is still readable on disk.
    assert wrapped in on_disk(db)

    conn.rollback()  # the reader finishes
    code = main(["purge-pii", "--db", str(db), "--older-than", "30"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "erasure verified" in out
    assert wrapped not in on_disk(db)

    async def read_back() -> tuple[Any, Any]:
        async with SQLiteEventLog.open(db) as log:
            sealer = PiiSealer.from_log(log, key)
            return await sealer.open(old), await sealer.open(new)

    assert asyncio.run(read_back()) == (None, ADDRESS)


async def test_purge_verifies_erasure_while_the_log_stays_open(
    tmp_path: Path, key: bytes, reader: list[sqlite3.Connection]
) -> None:
    db = tmp_path / "events.db"
    wrapped, _, new = await seed(db, key)
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        conn = hold_read_transaction(db, reader)
        with pytest.raises(StoreError, match="reader holds the event log open"):
            await sealer.purge(datetime.now(UTC) - timedelta(days=30))
        assert wrapped in on_disk(db)
        conn.rollback()
        assert await sealer.purge(datetime.now(UTC) - timedelta(days=30)) == 0  # done before
        # Checked while the log is still open: the checkpoint emptied the WAL, not the close.
        wal = db.with_name(db.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert wrapped not in on_disk(db)
        assert await sealer.open(new) == ADDRESS


async def test_order_purchased_40_days_ago_first_fetched_today_is_purged_by_30_days(
    tmp_path: Path, key: bytes
) -> None:
    db = tmp_path / "events.db"
    placed_from = datetime.now(UTC) - timedelta(days=41)
    # Amazon's clock stands 40 days back: its unshipped MFN orders were purchased ~40 days ago,
    # and the engine fetches (and seals) them now, for the first time.
    sim = AmazonSimulator(
        seed=7, time_scale=60.0, history_days=2, orders_per_day=40, start=placed_from
    )
    async with sim, aiohttp.ClientSession() as session, SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        client = make_client(sim, session)
        cfg = OrdersPollConfig(
            marketplace_ids=sim.sellers[0].regions["NA"].marketplace_ids,
            initial_lookback=timedelta(days=1),
        )
        await OrdersPoller(client, log, cfg, sealer).poll_once()
        sealed = {
            e.key: e.payload
            async for e in log.read(streams=["amazon.orders"])
            if e.payload["pii"] == "sealed"
        }
        fresh = await sealer.seal("created-today", ADDRESS)  # no order date: ages from now
        rows = await log.query("SELECT created_at FROM pii_keys")
    assert sealed, "no unshipped MFN order in the window"
    for order in sealed.values():
        placed = datetime.fromisoformat(order["purchase_date"].replace("Z", "+00:00"))
        assert datetime.now(UTC) - placed > timedelta(days=39)  # purchased ~40 days ago
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert all(created.startswith(today) for (created,) in rows)  # every key made today

    code = await asyncio.to_thread(main, ["purge-pii", "--db", str(db), "--older-than", "30"])
    assert code == 0
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        for order in sealed.values():
            assert await sealer.open(order["ship_to"]) is None, order["order_id"]
        assert await sealer.open(fresh) == ADDRESS  # created today: kept


OLD_SCHEMA = """
CREATE TABLE pii_keys (key_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, wrapped BLOB);
CREATE INDEX pii_keys_created ON pii_keys (created_at);
"""


async def test_keys_from_before_the_order_date_column_age_from_their_creation(
    tmp_path: Path, key: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "events.db"
    async with SQLiteEventLog.open(db) as log:
        await log.ensure_schema(OLD_SCHEMA)  # a log written before the migration
        sealer = PiiSealer.from_log(log, key)
        async with log.transaction() as tx:  # a tombstone the old code left
            await tx.execute(
                "INSERT INTO pii_keys (key_id, created_at, wrapped) VALUES (?, ?, NULL)",
                (sealer.key_id("o-legacy"), OLD),
            )
        await sealer.ensure_schema()  # migrates: adds record_date, old rows keep NULL
        assert await log.query("SELECT key_id, record_date FROM pii_keys") == [
            (sealer.key_id("o-legacy"), None)
        ]
        envs = {rk: await sealer.seal(rk, ADDRESS) for rk in ("o-long-ago", "o-now")}
        async with log.transaction() as tx:  # no order date: the creation time counts
            await tx.execute(
                "UPDATE pii_keys SET created_at = ? WHERE key_id = ?",
                (OLD, sealer.key_id("o-long-ago")),
            )
    code = await asyncio.to_thread(main, ["purge-pii", "--db", str(db), "--older-than", "30"])
    assert code == 0
    assert "purged 1 " in capsys.readouterr().out
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        assert await sealer.open(envs["o-long-ago"]) is None
        assert await sealer.open(envs["o-now"]) == ADDRESS
