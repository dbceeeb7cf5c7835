"""``ml-connector log stats|show`` against a real log: an SQLite file and a PostgreSQL database."""

import asyncio
import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.log import NewEvent
from engine.log.opening import open_event_log


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The log: an SQLite file, or a fresh PostgreSQL database (skipped with the reason where
    no server can start)."""
    if request.param == "sqlite":
        return str(tmp_path / "e.db")
    return str(request.getfixturevalue("pg_dsn"))


def _seed(target: str | Path, namespace: str | None = None) -> None:
    async def go() -> None:
        async with open_event_log(target, namespace=namespace) as log:
            await log.append(
                [NewEvent("amazon.orders", "OrderFetched", "111", {"status": "Pending"})]
            )
            await log.append(
                [NewEvent("amazon.orders", "OrderFetched", "111", {"status": "Shipped"})]
            )
            await log.append(
                [NewEvent("amazon.settlements", "SettlementFetched", "S9", {"t": "1"})]
            )

    asyncio.run(go())


def test_log_stats_counts(target, capsys):
    _seed(target)
    assert main(["log", "stats", "--db", target]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "head position: 3   events: 3"
    assert [line.split() for line in out[1:]] == [
        ["amazon.orders/OrderFetched", "2"],
        ["amazon.settlements/SettlementFetched", "1"],
    ]


def test_log_show_prints_history_as_json_lines(target, capsys):
    _seed(target)
    assert main(["log", "show", "--db", target, "111"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["payload"]["status"] for x in lines] == ["Pending", "Shipped"]
    assert [x["position"] for x in lines] == [1, 2]
    assert lines[0]["recorded_at"].endswith("Z")


def test_log_show_unknown_key_exits_1(target, capsys):
    _seed(target)
    assert main(["log", "show", "--db", target, "nope"]) == 1


def test_log_stats_of_a_log_in_its_own_schema(pg_dsn, capsys):
    _seed(pg_dsn, namespace="seller_a")
    assert main(["log", "stats", "--db", pg_dsn, "--schema", "seller_a"]) == 0
    assert "head position: 3   events: 3" in capsys.readouterr().out
    # The default schema holds no log: one line, exit 1, the label without the user.
    assert main(["log", "stats", "--db", pg_dsn]) == 1
    err = capsys.readouterr().err
    assert "empty database, not an event log" in err and "mlc@" not in err


def test_log_on_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["log", "stats", "--db", str(tmp_path / "missing.db")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


def test_a_schema_needs_a_postgresql_url(tmp_path, capsys):
    _seed(tmp_path / "e.db")
    assert main(["log", "stats", "--db", str(tmp_path / "e.db"), "--schema", "x"]) == 2
    assert "--schema names a PostgreSQL schema" in capsys.readouterr().err
