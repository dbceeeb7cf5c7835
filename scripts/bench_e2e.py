"""End-to-end benchmark: Amazon simulator -> engine -> QAD simulator; prints one JSON line.

    /work/venv/bin/python scripts/bench_e2e.py [--orders 20000] [--lines 3] [--days 28]

Three processes besides this one (multiprocessing "spawn"): the Amazon simulator (usage plans
off, a seeded business of N orders with about ``--lines`` lines each, plus its settlements and
inventory), the QAD simulator (state in an SQLite file) and the engine (``Engine.sync_once``:
poll everything, project, dispatch until idle). Rate limits are off on both sides (simulator
usage plans, engine buckets, QAD dispatch rate) so the figures are the engine's own cost.

Output keys: orders (distinct orders in the log), wall_s (engine process start -> sync
done), orders_per_s, engine_cpu_ms_per_order and engine_peak_rss_mb (the engine process's own
getrusage, not the simulators'), qad_posts (attempts recorded 'ok'), qad_documents, duplicates
(from the QAD tenant snapshot; must be 0), and rebuild_events_per_s for ``ml-connector rebuild
--dry-run`` on the resulting log (a subprocess, timed from start to exit). Progress: stderr.
In the same run (issue 18): qad_sim_capacity_orders_per_s, the run's sales orders posted into a
fresh QAD simulator by a tight client at the same concurrency (``bench_qad_capacity``), and
engine_to_qad_sim_capacity = orders_per_s / that; round_trips_per_order (aiosqlite worker-thread
hops of the engine's event log connections) and write_transactions_per_order
(``engine.log.sqlite.io_counter``); qad_requests_per_order and qad_lookups_per_order (the
``browses`` path) from the engine's own request metrics.

Targets: >= 200 orders/s and engine peak RSS <= 150 MB on a 2-core machine (issue 8); engine
>= 0.5 of the QAD simulator's capacity on the 20k run (issue 18). ``--orders 300`` is the short
form the test suite runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_qad_capacity import measure as measure_qad_capacity

from engine.sim.process import SimulatorProcess, serve_amazon, serve_qad

ROOT = Path(__file__).resolve().parents[1]


def _say(msg: str) -> None:
    print(f"[bench_e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the engine process ----------------------------------------------------------------------


def _run_engine(conn: Any, spec: dict[str, Any]) -> None:
    """Engine.sync_once against the simulators; sends back its own CPU time and peak RSS."""
    import resource

    result = asyncio.run(_engine_main(spec))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = ru.ru_utime + ru.ru_stime
    # VmHWM, not ru_maxrss: ru_maxrss survives execve, so a spawn'd child would start from
    # the parent's size; the high-water mark in /proc is this process image's own.
    result["maxrss_kb"] = _status_kb("VmHWM") or ru.ru_maxrss
    conn.send(result)


async def _engine_main(spec: dict[str, Any]) -> dict[str, Any]:
    import dataclasses
    from datetime import datetime, timedelta

    from engine.adapters.amazon.auth import AmazonAccount
    from engine.adapters.qad.settings import QadSettings
    from engine.ops.demo import simulator_config
    from engine.ops.engine import Engine

    amz, qad = spec["amazon"], spec["qad"]
    sim_now, sim_at, scale = datetime.fromisoformat(amz["now"]), amz["at"], amz["scale"]

    def clock() -> datetime:  # the simulator's clock, reconstructed from its handshake
        return sim_now + timedelta(seconds=(time.time() - sim_at) * scale)

    cfg = simulator_config(
        Path(spec["db"]), amazon_base=amz["base"], lwa_url=amz["lwa"], qad_url=qad["url"]
    )
    cfg = dataclasses.replace(
        cfg,
        engine=dataclasses.replace(cfg.engine, synchronous=spec["synchronous"]),
        dispatch=dataclasses.replace(
            cfg.dispatch,
            qad_rate_per_s=0.0,  # unlimited: the engine's own cost is what we measure
            listings_rate_per_s=0.0,
            concurrency=spec["concurrency"],
            retry_base_s=0.2,
            retry_cap_s=2.0,
        ),
    )
    account = AmazonAccount(
        client_id=amz["client_id"],
        client_secret=amz["client_secret"],
        refresh_tokens=amz["tokens"],
        seller_id=amz["seller_id"],
        name=amz["name"],
    )
    settings = QadSettings(
        tenant_url=qad["url"],
        username=qad["user"],
        password=qad["password"],
        domain=cfg.qad.domain,
        entity=cfg.qad.entity,
        request_timeout_s=30.0,
    )

    import threading

    peak = [0.0]

    def sample() -> None:  # a thread: catches peaks inside CPU-bound stretches of the loop
        while True:
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()

    def progress(msg: str) -> None:
        _say(f"engine: {msg} (rss {_rss_mb():.0f} MB, peak so far {peak[0]:.0f} MB)")

    counter = _count_round_trips()
    profile = spec.get("profile")
    prof: Any = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    async with Engine.open(
        cfg,
        amazon_account=account,
        qad_settings=settings,
        master_key=bytes(32),
        amazon_clock=clock,
        amazon_rate_limits=False,
    ) as eng:
        if spec.get("skip"):  # diagnosis: leave some flows out (e.g. settlements)
            for name in [n for n in eng.pollers if n.split(":")[0] in spec["skip"]]:
                del eng.pollers[name]
        ticker = asyncio.create_task(_ticker(eng))
        try:
            # --sequential: the phases one after another, as before issue 18 (E4's overlap).
            extra = {"overlap": False} if spec.get("sequential") else {}
            report = await eng.sync_once(progress=progress, dispatch_timeout_s=3600.0, **extra)
        finally:
            ticker.cancel()
        qad_calls = _qad_calls(eng)
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    return {
        "qad_calls": qad_calls,
        "round_trips": counter.round_trips,
        "write_transactions": counter.write_transactions,
        "write_transactions_by_caller": dict(getattr(counter, "by_caller", {})),
        "polled": {k: v.fetched for k, v in report.polled.items()},
        "poll_errors": report.poll_errors,
        "projected": report.projected,
        "dispatched": report.dispatched,
    }


def _qad_calls(eng: Any) -> dict[str, int]:
    """QAD requests the engine made, by [qad.paths] key (its own metrics counter)."""
    calls: dict[str, int] = {}
    for metric in eng.metrics.qad_requests.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                op = sample.labels.get("operation", "")
                calls[op] = calls.get(op, 0) + int(sample.value)
    return calls


def _count_round_trips() -> Any:
    """The engine's own counter of aiosqlite worker-thread hops and write transactions; on an
    older tree without it (a baseline run), the same counts from a class-level patch."""
    try:
        from engine.log.sqlite import io_counter  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        import types

        import aiosqlite.core

        counts = types.SimpleNamespace(round_trips=0, write_transactions=0)
        inner: Any = aiosqlite.core.Connection._execute

        async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            counts.round_trips += 1
            if args and args[0] == "BEGIN IMMEDIATE":
                counts.write_transactions += 1
            return await inner(self, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
        return counts
    io_counter.enable()
    return io_counter


async def _ticker(eng: Any) -> None:
    """Progress every 5 s: attempts so far and RSS (one cheap count; there is no hook)."""
    while True:
        await asyncio.sleep(5)
        rows = await eng.log.query("SELECT count(*) FROM attempts")
        _say(f"engine: {rows[0][0]} attempts recorded so far, rss {_rss_mb():.0f} MB")


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (0 where there is no /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


# -- rebuild --dry-run over the resulting log -------------------------------------------------


def _write_config(path: Path, db: Path, amz: dict[str, Any], qad_url: str) -> None:
    """A config.toml equal to the engine's (rebuild needs only [engine] and [mapping])."""
    from engine.config import to_toml
    from engine.ops.demo import simulator_config

    cfg = simulator_config(db, amazon_base=amz["base"], lwa_url=amz["lwa"], qad_url=qad_url)
    path.write_text(to_toml(cfg), encoding="utf-8")


def _rebuild_dry_run(config: Path, db: Path) -> tuple[int, float, int]:
    """(events re-projected, seconds, new commands) of ``ml-connector rebuild --dry-run``."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "rebuild", "--dry-run", "--config", str(config)],
        capture_output=True, text=True, cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"rebuild --dry-run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    m = re.search(r"rebuild: (\d+) events re-projected", proc.stdout)
    n = re.search(r"would add (\d+) new commands", proc.stdout)
    if not m or not n:
        raise RuntimeError(f"unexpected rebuild output: {proc.stdout[:500]}")
    return int(m.group(1)), secs, int(n.group(1))


# -- main ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from engine.sim.qad.snapshot import snapshot

    db = tmp / "events.db"
    amazon_kw = {
        "total_orders": args.orders,
        "history_days": args.days,
        "rate_limits": False,
        "seed": args.seed,
        "lines_per_order": args.lines,
        # Exactly N orders: none after the history (the run itself spans minutes of sim time).
        "orders_per_day": 0,
        # Reports take 45 simulated seconds to process; 120x makes that well under a second.
        "time_scale": 120.0,
    }
    _say(f"starting simulators ({args.orders} orders over {args.days} days, ~{args.lines} lines)")
    amazon_sim, qad_sim = (
        SimulatorProcess(serve_amazon, amazon_kw),
        SimulatorProcess(serve_qad, str(tmp / "qad.db")),
    )
    with amazon_sim as amz, qad_sim as qad:
        spec = {
            "amazon": amz,
            "qad": qad,
            "db": str(db),
            "synchronous": args.synchronous,
            "concurrency": args.concurrency,
            "profile": args.profile,
            "skip": [f for f in args.skip.split(",") if f],
            "sequential": args.sequential,
        }
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        _say("engine: starting (sync --once)")
        t0 = time.perf_counter()
        proc = ctx.Process(target=_run_engine, args=(child, spec))
        proc.start()
        child.close()
        try:
            result: dict[str, Any] = parent.recv()
        except EOFError:
            proc.join()
            raise RuntimeError(f"the engine process died (exit code {proc.exitcode})") from None
        wall = time.perf_counter() - t0
        proc.join(30)
        state = Path(qad["state"])
        snap = snapshot(state)
    _say(f"engine done in {wall:.1f}s: {result}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        [(posts,)] = con.execute("SELECT count(*) FROM attempts WHERE outcome = 'ok'").fetchall()
        # The engine's own flags (e.g. settlement lines to suspense) are not re-projected.
        [(events,)] = con.execute(
            "SELECT count(*) FROM events WHERE stream != 'engine.flags'"
        ).fetchall()
        [(orders,)] = con.execute(
            "SELECT count(DISTINCT key) FROM events WHERE stream = 'amazon.orders'"
        ).fetchall()
    finally:
        con.close()
    _say(f"QAD simulator capacity: a fresh simulator, concurrency {args.concurrency}")
    capacity = measure_qad_capacity(db, tmp / "qad_capacity.db", args.concurrency)
    cfg_path = tmp / "config.toml"
    _write_config(cfg_path, db, amz, qad["url"])
    _say(f"rebuild --dry-run over {events} events")
    rb_events, rb_secs, rb_new = _rebuild_dry_run(cfg_path, db)
    counts = snap.counts()
    per_s = orders / wall
    cap = capacity["qad_sim_capacity_orders_per_s"]
    return {
        "orders": orders,
        "wall_s": round(wall, 2),
        "orders_per_s": round(per_s, 1),
        **capacity,
        "engine_to_qad_sim_capacity": round(per_s / cap, 3) if cap else None,
        "engine_cpu_ms_per_order": round(result["cpu_s"] * 1000 / max(orders, 1), 3),
        "engine_peak_rss_mb": round(result["maxrss_kb"] / 1024, 1),
        "round_trips_per_order": round(result["round_trips"] / max(orders, 1), 2),
        "qad_requests_per_order": round(sum(result["qad_calls"].values()) / max(orders, 1), 2),
        "qad_lookups_per_order": round(  # the browses path: look-ups before/after a post
            result["qad_calls"].get("browses", 0) / max(orders, 1), 2
        ),
        "write_transactions_per_order": round(result["write_transactions"] / max(orders, 1), 3),
        "write_transactions_by_caller": result["write_transactions_by_caller"],
        "qad_posts": int(posts),
        "qad_documents": {k: v for k, v in counts.items() if k != "duplicates"},
        "duplicates": snap.duplicate_count,
        "dispatched": result["dispatched"],
        "poll_errors": result["poll_errors"],
        "events": int(events),
        "amazon_sim_cpu_s": round(amazon_sim.cpu_s, 1),
        "qad_sim_cpu_s": round(qad_sim.cpu_s, 1),
        "rebuild_events": rb_events,
        "rebuild_s": round(rb_secs, 2),
        "rebuild_events_per_s": round(rb_events / rb_secs, 1),
        "rebuild_new_commands": rb_new,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--orders", type=int, default=20_000, help="orders in the seeded business")
    ap.add_argument("--lines", type=int, default=3, help="mean lines per order")
    ap.add_argument("--days", type=int, default=28, help="days of history the orders span")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--concurrency", type=int, default=16, help="[dispatch] concurrency")
    ap.add_argument(
        "--synchronous", default="FULL", choices=("FULL", "NORMAL"), help="[engine] synchronous"
    )
    ap.add_argument("--profile", help="write a cProfile of the engine process to this file")
    ap.add_argument(
        "--skip", default="", help="diagnosis: poller kinds to leave out, e.g. settlements,mfn"
    )
    ap.add_argument(
        "--sequential", action="store_true", help="poll, project, dispatch one after another"
    )
    ap.add_argument("--keep", help="keep the databases in this directory")
    a = ap.parse_args(argv)
    if a.orders < 1 or a.lines < 1 or a.days < 1:
        ap.error("--orders, --lines and --days must be positive")
    if a.keep:
        keep = Path(a.keep).resolve()
        keep.mkdir(parents=True, exist_ok=True)
        res = run(a, keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_e2e-") as tmp:
            res = run(a, Path(tmp))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
