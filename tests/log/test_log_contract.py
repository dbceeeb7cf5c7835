"""Contract tests every EventLog backend must pass: SQLite and PostgreSQL, the same tests.

A backend's extra guarantees are read from its declared ``capabilities`` (a test needing one
skips on a backend that declares it absent). The SQLite-file guarantees are at the end; the
PostgreSQL-only ones (schema versions, triggers, dialect) are in test_postgres_log.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StoreBusy, StoreError
from engine.log import NewEvent, SQLiteEventLog
from tests.log.tailing import batch_total, tail_while_writing


class LogFactory:
    """Opens the same log again and again (so reopen/durability can be tested)."""

    def __init__(self, backend: str, target: str) -> None:
        self.backend = backend
        self.target = target  # the file path or the DSN

    def __call__(self) -> AbstractAsyncContextManager[Any]:
        if self.backend == "sqlite":
            return SQLiteEventLog.open(self.target)
        from engine.log.postgres import PostgresEventLog

        return PostgresEventLog.open(self.target)


@pytest.fixture(params=["sqlite", "postgresql"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> LogFactory:
    if request.param == "sqlite":
        return LogFactory("sqlite", str(tmp_path / "events.db"))
    # Skips with the reason where no PostgreSQL server can start.
    return LogFactory("postgresql", request.getfixturevalue("pg_dsn"))


def order(key: str, status: str = "Unshipped", total: str = "19.99") -> NewEvent:
    return NewEvent(
        stream="amazon.orders",
        type="OrderFetched",
        key=key,
        payload={"order_id": key, "status": status, "order_total": Decimal(total)},
        source="test",
    )


async def all_events(log: Any, **kw: Any) -> list[Any]:
    return [ev async for ev in log.read(**kw)]


async def test_positions_are_gap_free_and_monotonic_across_batches(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([order(f"A{i}") for i in range(5)])
        await log.append([order("A1")])  # duplicate: must not burn a position
        await log.append([order(f"B{i}") for i in range(3)])
        events = await all_events(log)
    assert [e.position for e in events] == list(range(1, 9))
    assert [e.key for e in events][-3:] == ["B0", "B1", "B2"]


async def test_idempotent_reappend_adds_nothing_and_says_so(open_log: LogFactory) -> None:
    async with open_log() as log:
        first = await log.append([order("X"), order("Y")])
        again = await log.append([order("X"), order("Y")])
        assert (first.appended, first.duplicates) == (2, 0)
        assert (again.appended, again.duplicates) == (0, 2)
        assert again.head == first.head == 2


async def test_changed_record_is_a_new_version_in_history(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([order("X", "Pending")])
        await log.append([order("Y")])
        await log.append([order("X", "Unshipped"), order("X", "Unshipped")])
        hist = await log.history("amazon.orders", "X")
        assert [e.payload["status"] for e in hist] == ["Pending", "Unshipped"]
        assert hist[0].position < hist[1].position
        assert hist[0].digest != hist[1].digest
        assert (await log.latest("amazon.orders", "X")).payload["status"] == "Unshipped"


async def test_payload_roundtrip_keeps_money_exact_and_timestamps_utc(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([order("M", total="1234567.89")])
        (ev,) = await all_events(log)
    assert Decimal(ev.payload["order_total"]) == Decimal("1234567.89")
    assert (
        ev.recorded_at.utcoffset() is not None and ev.recorded_at.utcoffset().total_seconds() == 0
    )


async def test_read_by_position_and_stream_streams_in_batches(open_log: LogFactory) -> None:
    async with open_log() as log:
        other = [
            NewEvent("amazon.settlements", "SettlementFetched", f"S{i}", {"i": i}) for i in range(7)
        ]
        await log.append([order(f"O{i}") for i in range(10)] + other)
        after5 = await all_events(log, after=5, batch_size=3)
        only_settlements = await all_events(log, streams=["amazon.settlements"], batch_size=2)
    assert [e.position for e in after5] == list(range(6, 18))
    assert [e.key for e in only_settlements] == [f"S{i}" for i in range(7)]


async def test_bookmark_commits_with_its_events(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([order("A")], bookmark=("orders", {"after": "2026-01-01T00:00:00Z"}))
        assert await log.bookmark("orders") == {"after": "2026-01-01T00:00:00Z"}
    async with open_log() as log:  # durable across reopen
        assert await log.bookmark("orders") == {"after": "2026-01-01T00:00:00Z"}
        assert await log.bookmark("missing") is None


async def test_checkpoint_and_output_are_atomic_under_a_crash(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.ensure_schema(
            "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, body TEXT)"
        )
        await log.append([order("A"), order("B")])
        async with log.transaction() as tx:
            await tx.execute("INSERT INTO outbox VALUES ('cmd-A', 'x')")
            await tx.set_tracking("projector", 1)
        with pytest.raises(RuntimeError, match="crash"):
            async with log.transaction() as tx:
                await tx.execute("INSERT INTO outbox VALUES ('cmd-B', 'y')")
                await tx.append([order("C")])
                await tx.set_tracking("projector", 2)
                await tx.set_bookmark("orders", {"w": 1})
                raise RuntimeError("crash mid-transaction")
        assert await log.tracking("projector") == 1
        assert await log.query("SELECT id FROM outbox") == [("cmd-A",)]
        assert await log.head() == 2
        assert await log.bookmark("orders") is None
        assert await log.tracking("never-ran") == 0


async def test_concurrent_appenders_never_interleave_a_batch(open_log: LogFactory) -> None:
    async with open_log() as log:

        async def writer(tag: str) -> None:
            for b in range(10):
                await log.append([order(f"{tag}-{b}-{i}") for i in range(25)])
                await asyncio.sleep(0)

        await asyncio.gather(*(writer(t) for t in "ABCD"))
        events = await all_events(log)
    assert len(events) == 4 * 10 * 25
    # Each batch of 25 occupies consecutive positions.
    for start in range(0, len(events), 25):
        batch = events[start : start + 25]
        prefixes = {e.key.rsplit("-", 1)[0] for e in batch}
        assert len(prefixes) == 1, f"batch at {start} interleaved: {prefixes}"


async def test_stats_counts_per_stream_and_type(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([order("A"), order("B")])
        await log.append([NewEvent("amazon.settlements", "SettlementFetched", "S1", {"t": "1"})])
        stats = await log.stats()
    assert stats["head"] == 3 and stats["events"] == 3
    assert stats["streams"] == {
        "amazon.orders": {"OrderFetched": 2},
        "amazon.settlements": {"SettlementFetched": 1},
    }


async def test_the_database_refuses_update_and_delete_through_the_port(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await log.append([order("A"), order("B")])
        for statement in ("UPDATE events SET key = 'z'", "DELETE FROM events"):
            with pytest.raises(StoreError, match="append-only"):
                async with log.transaction() as tx:
                    await tx.execute(statement)
        assert [e.key for e in await all_events(log)] == ["A", "B"]
        assert await log.head() == 2


async def test_a_rolled_back_append_gives_its_positions_back(open_log: LogFactory) -> None:
    async with open_log() as log:
        await log.append([order("A")])
        with pytest.raises(RuntimeError):
            async with log.transaction() as tx:
                await tx.append([order("B"), order("C")])
                raise RuntimeError("abort")
        await log.append([order("D")])
        events = await all_events(log)
    assert [(e.position, e.key) for e in events] == [(1, "A"), (2, "D")]


async def test_appends_and_output_in_one_transaction_see_their_own_writes(
    open_log: LogFactory,
) -> None:
    async with open_log() as log:
        await log.ensure_schema(
            "CREATE TABLE IF NOT EXISTS derived (k TEXT PRIMARY KEY, n INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS derived_n ON derived (n);"
        )
        await log.ensure_schema("CREATE TABLE IF NOT EXISTS derived (k TEXT PRIMARY KEY)")
        async with log.transaction() as tx:
            first = await tx.append([order("A"), order("B")])
            second = await tx.append([order("B"), order("C")])
            assert (first.appended, first.head) == (2, 2)
            assert (second.appended, second.duplicates, second.head) == (1, 1, 3)
            assert await tx.execute("INSERT OR IGNORE INTO derived VALUES (?, ?)", ("a", 1)) == 1
            assert await tx.execute("INSERT OR IGNORE INTO derived VALUES (?, ?)", ("a", 2)) == 0
            await tx.executemany("INSERT INTO derived (k, n) VALUES (?, ?)", [("b", 2), ("c", 3)])
            assert await tx.fetchall("SELECT k FROM derived WHERE n >= ? ORDER BY k", (2,)) == [
                ("b",),
                ("c",),
            ]
            await tx.set_tracking("p", 3)
        assert await log.query("SELECT count(*) FROM derived WHERE k LIKE 'a%'") == [(1,)]
        assert await log.tracking("p") == 3


_OTHER_PROCESS_WRITER = """
import asyncio, sys
from engine.log.postgres import PostgresEventLog
from tests.log.tailing import batch, port_append

async def main(dsn, batches):
    async with PostgresEventLog.open(dsn) as log:
        print("ready", flush=True)  # the other writers start now: the writes overlap
        for b in range(batches):
            await port_append(log, batch("proc", b), 0.002 * (b % 3))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_a_tailing_reader_never_skips_a_position_filled_in_later(
    open_log: LogFactory,
) -> None:
    """Many writers (own connections, and another process where the backend allows several
    writer processes) append while a reader tails: it must see 1, 2, 3, ... with no position
    appearing later below one it already passed."""
    batches = 30
    async with open_log() as reader, AsyncExitStack() as stack:
        if reader.capabilities.concurrent_writer_processes:
            writers = [await stack.enter_async_context(open_log()) for _ in range(4)]
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _OTHER_PROCESS_WRITER,
                open_log.target,
                str(batches),
                cwd=Path(__file__).parents[2],
                stdout=asyncio.subprocess.PIPE,
            )
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
            outside = [proc.wait()]
        else:  # one writer handle per log (SQLite: a second one is StoreBusy); 4 tasks on it
            writers, outside = [reader] * 4, []
        seen, violations = await tail_while_writing(
            reader, writers, batches=batches, outside=outside
        )
    assert not outside or proc.returncode == 0
    total = batch_total(len(writers) + len(outside), batches)
    assert violations == []
    assert seen == list(range(1, total + 1))


# --- SQLite-specific guarantees -------------------------------------------------------------


async def _seeded(path: Path) -> None:
    async with SQLiteEventLog.open(path) as log:
        await log.append([order("A"), order("B")])


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET payload = x'00'", "DELETE FROM events", "UPDATE events SET key='z'"],
)
async def test_database_itself_refuses_update_and_delete(tmp_path: Path, statement: str) -> None:
    path = tmp_path / "events.db"
    await _seeded(path)
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute(statement)
    con.close()
    # And through the engine's own transaction API too.
    async with SQLiteEventLog.open(path) as log:
        with pytest.raises(StoreError, match="append-only"):
            async with log.transaction() as tx:
                await tx.execute(statement)
        assert [e.key for e in await all_events(log)] == ["A", "B"]


def test_sqlite3_cli_cannot_modify_events(tmp_path: Path) -> None:
    import shutil

    if shutil.which("sqlite3") is None:
        pytest.skip("sqlite3 command-line shell not installed")
    path = tmp_path / "events.db"
    asyncio.run(_seeded(path))
    for sql in ("UPDATE events SET payload=x'00'", "DELETE FROM events"):
        proc = subprocess.run(["sqlite3", str(path), sql], capture_output=True, text=True)
        assert proc.returncode != 0 and "append-only" in proc.stderr


async def test_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await _seeded(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


async def test_second_writer_process_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    script = textwrap.dedent(
        f"""
        import asyncio
        from engine.errors import StoreBusy
        from engine.log import SQLiteEventLog
        async def main():
            try:
                async with SQLiteEventLog.open({str(path)!r}):
                    print("opened")
            except StoreBusy as exc:
                print("busy:", exc)
        asyncio.run(main())
        """
    )
    async with SQLiteEventLog.open(path) as log:
        await log.append([order("A")])
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert out.decode().startswith("busy:") and "another ml-connector process" in out.decode()
        # A read-only open beside the writer works and sees committed events.
        async with SQLiteEventLog.open(path, readonly=True) as ro:
            assert await ro.head() == 1
    # After the writer closed, a new writer opens fine.
    async with SQLiteEventLog.open(path) as log:
        assert await log.head() == 1


async def test_same_process_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    async with SQLiteEventLog.open(path):
        with pytest.raises(StoreBusy):
            async with SQLiteEventLog.open(path):
                pass


async def test_kill_during_transaction_leaves_previous_state(tmp_path: Path) -> None:
    """A process killed (SIGKILL) mid-transaction loses only that uncommitted transaction."""
    path = tmp_path / "events.db"
    await _seeded(path)
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from engine.log import NewEvent, SQLiteEventLog
        async def main():
            async with SQLiteEventLog.open({str(path)!r}) as log:
                async with log.transaction() as tx:
                    await tx.append([NewEvent("s", "t", f"k{{i}}", {{"i": i}}) for i in range(500)])
                    await tx.set_tracking("p", 99)
                    os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
    assert await proc.wait() == -9
    async with SQLiteEventLog.open(path) as log:
        assert await log.head() == 2
        assert await log.tracking("p") == 0
        await log.append([order("C")])
        assert await log.head() == 3


async def test_readonly_open_of_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        async with SQLiteEventLog.open(tmp_path / "nope.db", readonly=True):
            pass


async def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open event log"):
        async with SQLiteEventLog.open(path):
            pass
