"""``import settlement`` and ``import loan-statement`` into a PostgreSQL log.

The same files as tests/e2e/test_import_settlement.py and test_lending.py: on PostgreSQL they
append the events an SQLite log gets, a dry run writes nothing (not even the log's tables), a
second import appends nothing, and the engine then posts each document once. A PostgreSQL log
takes writers beside the import, so two imports racing for one settlement or one loan month
leave exactly one event. Driven through the ops functions the CLI calls, with the config pointed
at the database as in tests/e2e/test_sync_postgres.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError, StoreError
from engine.log.opening import open_event_log
from engine.ops.import_loan import LoanImportError, import_loan_statement
from engine.ops.import_settlement import import_settlements
from engine.pollers.settlement_events import settlement_in_log
from engine.sim.amazon.documents import settlement_file
from tests.e2e.test_sync_postgres import _on_postgresql

INTEREST = Decimal("4.25")  # per repayment, as tests/e2e/test_lending.py


async def _events(target: str, stream: str) -> list[tuple[Any, ...]]:
    """(stream, type, key, payload, source) of every event of ``stream``, oldest first."""
    async with open_event_log(target, readonly=True) as log:
        return [
            (e.stream, e.type, e.key, e.payload, e.source) async for e in log.read(streams=[stream])
        ]


async def _fetched(target: str) -> list[str]:
    """The settlement ids of the SettlementFetched events, in log order."""
    events = await _events(target, "amazon.settlements")
    return [e[2] for e in events if e[1] == "SettlementFetched"]


async def _head(target: str) -> int:
    async with open_event_log(target, readonly=True) as log:
        return await log.head()


async def _no_log(target: str) -> None:
    with pytest.raises(StoreError, match="not an event log"):
        async with open_event_log(target, readonly=True):
            pass


def _look_together(look: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``look`` whose first two calls each wait (up to 1 s) for the other after looking: two
    racing imports then both look at the log before either appends, unless the import holds
    a lock that keeps the second one from looking until the first has committed."""
    both = asyncio.Event()
    calls = 0

    async def looked(*args: Any) -> Any:
        nonlocal calls
        found = await look(*args)
        calls += 1
        if calls <= 2:
            if calls == 2:
                both.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(both.wait(), 1.0)
        return found

    return looked


def _files(w: Any, folder: Path) -> list[Path]:
    folder.mkdir()
    files = []
    for st in w.amazon.truth.settlements():
        data, _charset = settlement_file(st)
        path = folder / f"{st.settlement_id}.txt"
        path.write_bytes(data)
        files.append(path)
    return files


async def test_settlement_files_into_postgresql_are_the_sqlite_events(
    make_world, pg_dsn, tmp_path
) -> None:
    async with make_world() as w:
        cfg = w.config()
        files = _files(w, tmp_path / "downloads")
        settled = w.amazon.truth.settlements()
        assert len(files) == len(settled) >= 3
        pg = _on_postgresql(cfg, pg_dsn, str(tmp_path / "raw"))

        # A dry run on a database with no log: all new, and still no log there.
        dry = await import_settlements(pg, files, dry_run=True)
        assert [r.status for r in dry] == ["would append"] * len(files)
        await _no_log(pg_dsn)
        # No [poll] raw_dir: refused before anything is created (the copies have no place).
        with pytest.raises(ConfigError, match=r"\[poll\] raw_dir must be set"):
            await import_settlements(_on_postgresql(cfg, pg_dsn, ""), files)
        await _no_log(pg_dsn)

        done = await import_settlements(pg, files)
        assert [r.status for r in done] == ["appended"] * len(files)
        kept = sorted(p.name for p in (tmp_path / "raw" / "import").iterdir())
        assert len(kept) == len(files)
        # The same files into an SQLite log: the same events, payload for payload.
        lite = dataclasses.replace(
            cfg, engine=dataclasses.replace(cfg.engine, db=str(tmp_path / "fresh.db"))
        )
        assert {r.status for r in await import_settlements(lite, files)} == {"appended"}
        on_pg = await _events(pg_dsn, "amazon.settlements")
        assert on_pg == await _events(lite.engine.db, "amazon.settlements")
        assert sorted(await _fetched(pg_dsn)) == sorted(st.settlement_id for st in settled)

        # Again, and as a dry run: nothing new, nothing written.
        head = await _head(pg_dsn)
        for dry_run in (True, False):
            again = await import_settlements(pg, files, dry_run=dry_run)
            assert [r.status for r in again] == ["already in the log"] * len(files)
        assert await _head(pg_dsn) == head

        # Imported first, then polled: the poller skips them, QAD gets each document once.
        async with w.engine(pg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
        fetched = [
            e for e in await _events(pg_dsn, "amazon.settlements") if e[1] == "SettlementFetched"
        ]
        assert sorted(e[2] for e in fetched) == sorted(
            e[2] for e in on_pg if e[1] == "SettlementFetched"
        )
        refs = [inv["ar_po"] for inv in w.qad.invoices()]
        assert refs and len(refs) == len(set(refs))


async def test_two_imports_of_one_settlement_at_once_append_it_once(
    make_world, pg_dsn, tmp_path, monkeypatch
) -> None:
    async with make_world() as w:
        pg = _on_postgresql(w.config(), pg_dsn, str(tmp_path / "raw"))
        plain = _files(w, tmp_path / "downloads")[0]
        # The same settlement downloaded twice (one copy gzipped): two documents, one identity.
        packed = tmp_path / "again.txt.gz"
        packed.write_bytes(gzip.compress(plain.read_bytes()))
        async with open_event_log(pg_dsn):
            pass  # the log exists: both imports race for the settlement, not for the schema
        monkeypatch.setattr(
            "engine.ops.import_settlement.settlement_in_log", _look_together(settlement_in_log)
        )
        results = await asyncio.gather(
            import_settlements(pg, [plain]), import_settlements(pg, [packed])
        )
        assert sorted(r.status for [r] in results) == ["already in the log", "appended"]
        fetched = [
            e for e in await _events(pg_dsn, "amazon.settlements") if e[1] == "SettlementFetched"
        ]
        assert [e[2] for e in fetched] == [results[0][0].settlement_id]


def _repayments(w: Any) -> Counter[str]:
    out: Counter[str] = Counter()
    for s in w.amazon.truth.settlements():
        for r in s.rows:
            if r.amount_description == "Loan Repayment" and s.currency == "USD":
                out[datetime.fromtimestamp(r.posted, UTC).strftime("%Y-%m")] += 1
    return out


async def test_a_loan_statement_into_postgresql_posts_each_month_once(
    make_world, pg_dsn, tmp_path, monkeypatch
) -> None:
    from engine.log.postgres import PostgresEventLog  # psycopg: present once pg_dsn is

    async with make_world(history_days=45) as w:
        pg = _on_postgresql(w.config(), pg_dsn, str(tmp_path / "raw"))
        repayments = _repayments(w)
        assert repayments, "the seeded history has no loan repayment"
        statement = tmp_path / "lending.csv"
        rows = [f"{m},USD,{INTEREST * n}" for m, n in sorted(repayments.items())]
        statement.write_text("month,currency,interest\n" + "\n".join(rows) + "\n")

        dry = await import_loan_statement(pg, [statement], dry_run=True)
        assert [r.status for r in dry] == ["would append"] * len(repayments)
        await _no_log(pg_dsn)  # a dry run on an empty database creates nothing
        async with w.engine(pg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
        head = await _head(pg_dsn)
        dry = await import_loan_statement(pg, [statement], dry_run=True)
        assert [r.status for r in dry] == ["would append"] * len(repayments)
        assert await _head(pg_dsn) == head and await _events(pg_dsn, "amazon.lending") == []

        done = await import_loan_statement(pg, [statement])
        assert [r.status for r in done] == ["appended"] * len(repayments)
        async with w.engine(pg) as eng:
            await eng.sync_once()
        for month, n in repayments.items():
            gl = w.qad.query(
                "SELECT gltr_acc, gltr_amt FROM gltr_hist WHERE gltr_doc = ?",
                (f"AMZ-LOAN-USD-{month}",),
            )
            amounts = {ln["gltr_acc"]: Decimal(str(ln["gltr_amt"])) for ln in gl}
            assert amounts == {"6900": INTEREST * n, "2500": -INTEREST * n}, (month, gl)

        # Again: nothing; a restated month: refused whole, nothing appended.
        again = await import_loan_statement(pg, [statement])
        assert [r.status for r in again] == ["already in the log"] * len(repayments)
        lending = await _events(pg_dsn, "amazon.lending")
        assert len(lending) == len(repayments)
        restated = tmp_path / "restated.csv"
        restated.write_text(f"month,currency,interest\n{sorted(repayments)[0]},USD,99.99\n")
        with pytest.raises(LoanImportError, match="was imported with interest"):
            await import_loan_statement(pg, [restated])
        assert await _events(pg_dsn, "amazon.lending") == lending

        # Two statements of one new month in different amounts, imported at once: one wins,
        # the other finds the month stated and is refused (never two amounts for one month).
        one, two = tmp_path / "one.csv", tmp_path / "two.csv"
        one.write_text("month,currency,interest\n2030-01,USD,1.00\n")
        two.write_text("month,currency,interest\n2030-01,USD,2.00\n")
        monkeypatch.setattr(PostgresEventLog, "latest", _look_together(PostgresEventLog.latest))
        results = await asyncio.gather(
            import_loan_statement(pg, [one]), import_loan_statement(pg, [two]),
            return_exceptions=True,
        )  # fmt: skip
        won = [r for r in results if isinstance(r, list)]
        lost = [r for r in results if isinstance(r, LoanImportError)]
        assert len(won) == len(lost) == 1, results
        assert [r.status for r in won[0]] == ["appended"]
        assert "was imported with interest" in str(lost[0])
        stated = [e for e in await _events(pg_dsn, "amazon.lending") if e[2] == "USD:2030-01"]
        assert len(stated) == 1 and Decimal(stated[0][3]["interest"]) == won[0][0].month.interest
