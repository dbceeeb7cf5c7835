"""``ml-connector log stats|show`` against a real log file."""

import asyncio
import json
from pathlib import Path

from engine.cli import main
from engine.log import NewEvent, SQLiteEventLog


def _seed(path: Path) -> None:
    async def go() -> None:
        async with SQLiteEventLog.open(path) as log:
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


def test_log_stats_counts(tmp_path, capsys):
    db = tmp_path / "e.db"
    _seed(db)
    assert main(["log", "stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "head position: 3" in out
    assert "amazon.orders/OrderFetched" in out and " 2" in out


def test_log_show_prints_history_as_json_lines(tmp_path, capsys):
    db = tmp_path / "e.db"
    _seed(db)
    assert main(["log", "show", "--db", str(db), "111"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["payload"]["status"] for x in lines] == ["Pending", "Shipped"]
    assert lines[0]["recorded_at"].endswith("Z")


def test_log_on_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["log", "stats", "--db", str(tmp_path / "missing.db")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


def test_log_show_unknown_key_exits_1(tmp_path, capsys):
    db = tmp_path / "e.db"
    _seed(db)
    assert main(["log", "show", "--db", str(db), "nope"]) == 1
