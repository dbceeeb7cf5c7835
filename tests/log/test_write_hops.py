"""Fewer worker-thread hops per write (issue 18), with every guarantee kept (real SQLite files)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.log.records import NewEvent
from engine.log.sqlite import SQLiteEventLog, io_counter
from engine.security.keys import generate_key
from engine.security.pii import PiiSealer

ADDRESS = {"name": "Ada Quill", "address_line1": "4 Ferry Lane"}


@pytest.fixture
def counted() -> Iterator[None]:
    io_counter.enable()
    yield
    io_counter.enabled = False


def orders(n: int, start: int = 0) -> list[NewEvent]:
    return [
        NewEvent("amazon.orders", "OrderFetched", f"o-{i}", {"i": i}, "t")
        for i in range(start, start + n)
    ]


async def test_a_page_append_with_its_bookmark_is_one_hop_and_one_transaction(
    tmp_path: Path, counted: None
) -> None:
    async with SQLiteEventLog.open(tmp_path / "log.db") as log:
        trips, txs = io_counter.round_trips, io_counter.write_transactions
        res = await log.append(orders(100), bookmark=("poller", {"watermark": "w1"}))
        assert (io_counter.round_trips - trips, io_counter.write_transactions - txs) == (1, 1)
        assert (res.appended, res.duplicates, res.head) == (100, 0, 100)
        again = await log.append(orders(100), bookmark=("poller", {"watermark": "w2"}))
        assert (again.appended, again.duplicates, again.head) == (0, 100, 100)
        assert await log.bookmark("poller") == {"watermark": "w2"}


async def test_deferred_writes_still_roll_back_with_the_whole_transaction(tmp_path: Path) -> None:
    async with SQLiteEventLog.open(tmp_path / "log.db") as log:
        await log.append(orders(1))
        with pytest.raises(StoreError):
            async with log.transaction() as tx:
                await tx.append(orders(2, start=1))
                await tx.set_tracking("projector:x", 3)
                # Refused by the append-only trigger, but only when the deferred batch runs.
                await tx.executemany("UPDATE events SET key = ? WHERE position = ?", [("x", 1)])
        assert await log.head() == 1
        assert await log.tracking("projector:x") == 0
        async with log.transaction() as tx:  # the writer is usable again
            await tx.set_tracking("projector:x", 1)
        assert await log.tracking("projector:x") == 1


async def test_a_cancelled_transaction_leaves_no_open_transaction_behind(tmp_path: Path) -> None:
    async with SQLiteEventLog.open(tmp_path / "log.db") as log:
        started = asyncio.Event()

        async def slow() -> None:
            async with log.transaction() as tx:
                await tx.append(orders(1))
                started.set()
                await asyncio.sleep(30)

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        res = await log.append(orders(1, start=5))
        assert (res.appended, await log.head()) == (1, 1)  # the cancelled event is gone


async def test_a_new_pii_key_commits_inside_the_page_transaction(
    tmp_path: Path, counted: None
) -> None:
    key = generate_key()
    db = tmp_path / "log.db"
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        txs = io_counter.write_transactions
        envelope = await sealer.seal("o-1", ADDRESS)
        assert await log.query("SELECT count(*) FROM pii_keys") == [(0,)]  # staged, not written
        assert await sealer.open(envelope) == ADDRESS  # opens from the staged key meanwhile
        with pytest.raises(RuntimeError):  # a rolled-back transaction keeps the key staged
            async with log.transaction() as tx:
                await tx.append([NewEvent("amazon.orders", "OrderFetched", "o-0", {}, "t")])
                raise RuntimeError("boom")
        assert await log.query("SELECT count(*) FROM pii_keys") == [(0,)]
        await log.append([NewEvent("amazon.orders", "OrderFetched", "o-1", {"ship_to": envelope})])
        assert io_counter.write_transactions - txs == 2  # the failed one and the page: no own tx
        assert await log.query("SELECT count(*) FROM pii_keys") == [(1,)]
        assert await log.head() == 1
    async with SQLiteEventLog.open(db) as log:  # durable: a new process opens it
        [event] = await log.history("amazon.orders", "o-1")
        assert await PiiSealer.from_log(log, key).open(event.payload["ship_to"]) == ADDRESS


async def test_a_key_sealed_after_the_last_transaction_is_written_on_close(
    tmp_path: Path,
) -> None:
    key = generate_key()
    db = tmp_path / "log.db"
    async with SQLiteEventLog.open(db) as log:
        sealer = PiiSealer.from_log(log, key)
        await sealer.ensure_schema()
        envelope = await sealer.seal("o-9", ADDRESS)
    async with SQLiteEventLog.open(db) as log:
        assert await PiiSealer.from_log(log, key).open(envelope) == ADDRESS


async def test_a_key_stored_by_another_writer_meanwhile_stops_writes_loudly(
    tmp_path: Path,
) -> None:
    """The look-up found no key, then someone else stored one for the record: the envelope we
    sealed would never open, so the commit fails and writes stay refused (no silent loss)."""
    key = generate_key()
    async with SQLiteEventLog.open(tmp_path / "log.db") as log:
        ours = PiiSealer.from_log(log, key)
        await ours.ensure_schema()
        await ours.seal("o-1", ADDRESS)  # staged: no key stored yet
        # A second writer on the file (what the log's flock forbids for engines): its own key.
        async with PiiSealer.connect(tmp_path / "log.db", key) as other:
            await other.seal("o-1", {"name": "someone else"})
        with pytest.raises(StoreError, match="another writer"):
            await log.append(orders(1))
        with pytest.raises(StoreError, match="another writer"):  # and stays refused
            await log.append(orders(1, start=1))
        assert await log.head() == 0
