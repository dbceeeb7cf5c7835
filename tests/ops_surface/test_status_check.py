"""``ml-connector status --check`` through the real CLI, one test per state.

Healthy, parked and refused-role logs come from real syncs against the simulators; late and
failing are written by the engine's own ``FlowHealth`` with past timestamps into a real SQLite
file (waiting 1x / 2x a real cadence would take minutes). Exit 0 only when all is well; 1 with
one line per problem; 2 for a usage error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.config import PollConfig
from engine.log import SQLiteEventLog
from engine.ops.flow_health import FlowHealth
from engine.sim.amazon.roles import FINANCE
from engine.sim.business import sku_to_item
from tests.e2e.configfile import run_cli


async def _check(db: str | Path, *extra: str) -> tuple[int, list[str], str]:
    rc, out, err = await run_cli("status", "--db", str(db), "--check", *extra)
    return rc, out.splitlines(), err


async def test_healthy_log_exits_0_with_one_ok_line(make_world) -> None:
    async with make_world(history_days=2, orders_per_day=3) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
        assert report.parked_total == 0 and not report.poll_errors
    rc, lines, err = await _check(cfg.engine.db)
    assert rc == 0, (lines, err)
    assert len(lines) == 1 and lines[0].startswith("OK ") and "0 parked" in lines[0]


async def test_parked_records_fail_the_check_unless_allowed(make_world) -> None:
    full = sku_to_item()
    partial = {k: v for k, v in full.items() if k not in sorted(full)[::2]}
    async with make_world(history_days=2, orders_per_day=4) as w:
        cfg = w.config(sku_map=partial)
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
    parked = report.parked_total
    assert parked > 0
    rc, lines, _ = await _check(cfg.engine.db)
    assert rc == 1
    assert [ln for ln in lines if ln.startswith("PARKED amazon.orders:")], lines
    assert all(ln.startswith("PARKED ") for ln in lines), lines  # the flows themselves are fine
    assert f"{parked} in all > --max-parked 0" in lines[0]
    rc, lines, _ = await _check(cfg.engine.db, "--max-parked", str(parked))
    assert rc == 0 and lines[0].startswith("OK ") and f"{parked} parked" in lines[0]
    rc, lines, _ = await _check(cfg.engine.db, "--max-parked", str(parked - 1))
    assert rc == 1


async def test_refused_role_is_a_problem_naming_the_role(make_world) -> None:
    async with make_world(history_days=2, orders_per_day=2, denied_roles=[FINANCE]) as w:
        cfg = w.config()
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
    assert report.refused_roles
    rc, lines, _ = await _check(cfg.engine.db, "--max-parked", "1000")
    assert rc == 1
    disabled = [ln for ln in lines if ln.startswith("DISABLED settlements:")]
    assert len(disabled) == len(report.refused_roles) == len(lines), lines
    assert all(f"'{FINANCE}'" in ln for ln in disabled)


async def _log_with(tmp_path: Path, write) -> Path:  # type: ignore[no-untyped-def]
    db = tmp_path / "events.db"
    async with SQLiteEventLog.open(db) as log:
        await write(FlowHealth(log, 3600.0))
    return db


async def test_late_flow_exits_1_and_says_late(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    every = PollConfig().orders_every_s  # 180 s: late after 1x, failing after 2x

    async def write(h: FlowHealth) -> None:
        await h.ok("orders:NA", now=now - timedelta(seconds=1.5 * every))
        await h.ok("orders:EU", now=now - timedelta(seconds=10))

    db = await _log_with(tmp_path, write)
    rc, lines, _ = await _check(db)
    assert rc == 1
    ago = f"{int(1.5 * every) // 60}m ago"  # whatever the default cadence is
    assert len(lines) == 1 and lines[0].startswith(f"LATE orders:NA: last successful poll {ago}")


async def test_failing_flows_exit_1_one_line_each(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    every = PollConfig().orders_every_s

    async def write(h: FlowHealth) -> None:
        await h.ok("orders:NA", now=now - timedelta(seconds=3 * every))  # no success in 2x
        await h.ok("orders:EU", now=now - timedelta(seconds=10))
        await h.failed("orders:EU", RuntimeError("the store is on fire"), now=now)  # just failed
        await h.ok("orders:FE", now=now - timedelta(seconds=10))

    db = await _log_with(tmp_path, write)
    rc, lines, _ = await _check(db)
    assert rc == 1
    assert sorted(ln.split(":")[0] + ":" + ln.split(":")[1] for ln in lines) == [
        "FAILING orders:EU",
        "FAILING orders:NA",
    ], lines
    assert any("RuntimeError: the store is on fire" in ln for ln in lines)


async def test_config_cadence_applies_and_usage_errors_exit_2(tmp_path: Path) -> None:
    now = datetime.now(UTC)

    async def write(h: FlowHealth) -> None:
        await h.ok("orders:NA", now=now - timedelta(seconds=450))  # late on the 180 s default

    db = await _log_with(tmp_path, write)
    config = tmp_path / "config.toml"
    config.write_text("[poll]\norders_every_s = 3600\n", encoding="utf-8")
    rc, lines, _ = await _check(db, "--config", str(config))
    assert rc == 0 and lines[0].startswith("OK 1 flow(s) healthy"), lines  # hourly: on time
    rc, _, err = await _check(db, "--max-parked", "-1")
    assert rc == 2 and "--max-parked" in err


async def test_log_no_engine_ran_on_is_a_problem(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    async with SQLiteEventLog.open(db):
        pass
    rc, lines, _ = await _check(db)
    assert rc == 1 and lines == ["PENDING no flow has polled yet (is `ml-connector run` up?)"]


async def test_refused_flow_without_a_role_is_paused_with_its_reason(tmp_path: Path) -> None:
    """Amazon refused the flow for something other than a missing role (a revoked grant): the
    check says PAUSED with the reason and the next try; the other flows stay quiet."""
    now = datetime.now(UTC)

    async def write(h: FlowHealth) -> None:
        await h.ok("orders:NA", now=now - timedelta(seconds=10))
        await h.refused("orders:NA", RuntimeError("grant revoked by the seller"), now=now)
        await h.ok("orders:EU", now=now - timedelta(seconds=10))

    db = await _log_with(tmp_path, write)
    rc, lines, _ = await _check(db)
    assert rc == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("PAUSED orders:NA: refused"), lines
    assert "grant revoked by the seller" in lines[0] and "next try" in lines[0], lines
