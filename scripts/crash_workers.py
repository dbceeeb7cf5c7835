#!/usr/bin/env python3
"""Crash test of ``run --worker`` on PostgreSQL: ``kill -9`` random workers, several at once,
at random moments, and prove the QAD books still match an uninterrupted run.

What it does
  1. Starts both simulators as processes (scripts/crash_test.py's quiet business: nothing
     changes while the test runs) with two QAD tenants, ``clean`` and ``crash``.
  2. Clean run: ``sync --once`` into ``clean`` on an SQLite log, uninterrupted.
  3. Crash run into ``crash``: the log on PostgreSQL (``--dsn``, or a throwaway cluster this
     script starts), partition ``crash``, and ``--workers`` processes of ``run --worker``
     sharing it (one holds the poll lease, all dispatch). Each trial sleeps a seeded random
     moment, then SIGKILLs one worker or, one trial in three, several at once (their process
     groups), and starts them again at once. A kill is classed by what the log shows at that
     moment: ``startup`` (no order fetched yet), ``dispatch`` (commands open) or ``idle``.
  4. SIGTERM to the survivors, then ``sync --once`` on the PostgreSQL log to completion.
  5. Compares the two tenants (engine.sim.qad.snapshot: lost / duplicated / mismatched
     documents) and reconciles every settlement of ``crash`` against the simulator's truth.

The dispatch is slowed (QAD ``--write-latency``, [dispatch] concurrency 2) so the backlog lasts
long enough for kills to land mid-post; ``inflight_commits`` counts the kills of every worker at
once after which QAD still committed a write a dead worker had sent. ``lease_takeovers`` is the
poll lease's generation at the end minus one: how often another worker took the partition over.

Output: progress on stderr, one JSON line on stdout. Exit 1 if lost/duplicated/mismatched/
unreconciled is non-zero, a run failed, or no kill landed while commands were open.

Examples
  python scripts/crash_workers.py                       # 3 workers, 20 trials, 200 orders
  python scripts/crash_workers.py --workers 4 --trials 40 --orders 400 --seed 7
  python scripts/crash_workers.py --dsn postgresql://localhost/mlc_crash   # an empty database
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import crash_test as ct  # noqa: E402

from engine.sim.qad.snapshot import diff_snapshots, snapshot  # noqa: E402

LEASE_S = 3.0
PARTITION = "crash"


def _say(msg: str) -> None:
    print(f"[crash-workers] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _database(dsn: str | None) -> Iterator[str]:
    """``dsn``, or a fresh database on a throwaway cluster (stopped at the end)."""
    if dsn:
        yield dsn
        return
    from tests.pg_fixture import start_cluster

    cluster = start_cluster()
    try:
        yield cluster.new_database()
    finally:
        cluster.stop()


def write_worker_config(world: ct.World, dsn: str) -> Path:
    """The crash tenant's config with the log on PostgreSQL, partition ``crash``."""
    from engine.config import load_config, to_toml

    path = ct.write_config(world, "crash")
    cfg = load_config(path)
    engine = dataclasses.replace(cfg.engine, db=dsn, partition=PARTITION)
    poll = dataclasses.replace(cfg.poll, raw_dir=str(path.parent / "raw"))
    dispatch = dataclasses.replace(cfg.dispatch, concurrency=2)
    path.write_text(
        to_toml(dataclasses.replace(cfg, engine=engine, poll=poll, dispatch=dispatch)),
        encoding="utf-8",
    )
    return path


def _spawn_worker(procs: ct.Procs, world: ct.World, config: Path, n: int) -> Any:
    # The child writes to its own copy of the descriptor; ours is closed at once.
    with (world.workdir / f"worker-{n}.log").open("a", encoding="utf-8") as log:
        return procs.spawn(
            ct._engine_cmd(
                "run", "--worker", "--config", str(config), "--vault", str(world.vault),
                "--lease", str(LEASE_S), "--drain", "2",
            ),
            world.env,
            stdout=log,
            stderr=log,
            cwd=world.workdir,
        )  # fmt: skip


def _wait_for_work(dsn: str, timeout_s: float) -> None:
    """Until the workers have fetched orders (their start takes seconds: imports, probes)."""
    end = time.monotonic() + timeout_s
    while _log_state(dsn) == "startup":
        if time.monotonic() > end:
            raise RuntimeError(f"no worker fetched an order within {timeout_s:.0f} s")
        time.sleep(0.2)


def _log_state(dsn: str) -> str:
    """What the crash partition's log shows now: startup, dispatch or idle."""
    import psycopg

    schema = f"mlc_p_{PARTITION}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.open_commands",)).fetchone()
        if not exists or exists[0] is None:
            return "startup"
        (orders,) = conn.execute(
            f"SELECT count(*) FROM {schema}.events WHERE stream = 'amazon.orders'"
        ).fetchone() or (0,)
        (open_now,) = conn.execute(f"SELECT count(*) FROM {schema}.open_commands").fetchone() or (
            0,
        )
    if not orders:
        return "startup"
    return "dispatch" if open_now else "idle"


def _lease_generation(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        table = conn.execute("SELECT to_regclass('mlc_control.partition_leases')").fetchone()
        if not table or table[0] is None:
            return 0  # no worker lived long enough to create it
        row = conn.execute(
            "SELECT max(generation) FROM mlc_control.partition_leases WHERE partition = %s",
            (f"mlc_p_{PARTITION}",),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def run_worker_crash_test(
    *,
    workers: int = 3,
    trials: int = 20,
    seed: int = 1,
    orders: int = 200,
    write_latency: float = 0.3,
    max_gap_s: float = 3.0,
    dsn: str | None = None,
    workdir: str | None = None,
    keep: bool = False,
    procs: ct.Procs | None = None,
    sync_timeout_s: float = 600.0,
) -> dict[str, Any]:
    """The whole test; returns the result dict (the JSON line)."""
    t_start = time.monotonic()
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0)
    procs = procs if procs is not None else ct.Procs()
    with ct._workdir(workdir, keep) as wd, _database(dsn) as url:
        try:
            _say(f"workdir {wd}; simulators ({orders} orders, seed {seed}); {workers} workers")
            world = ct.start_simulators(
                procs, wd, seed=seed, orders=orders, start=start, write_latency=write_latency
            )
            clean_cfg = ct.write_config(world, "clean")
            crash_cfg = write_worker_config(world, url)
            clean = ct.run_sync(procs, world, clean_cfg, timeout_s=sync_timeout_s)
            _say(f"clean run (SQLite, one process) {clean.wall_s:.1f} s")

            state = world.tenants["crash"][1]
            running = {n: _spawn_worker(procs, world, crash_cfg, n) for n in range(workers)}
            kills: Counter[str] = Counter()
            several = inflight = 0
            for i in range(1, trials + 1):
                if i == 2:  # the first kill hits the start, the others the work
                    _wait_for_work(url, sync_timeout_s)
                time.sleep(rng.uniform(0.2, max_gap_s))
                count = rng.randint(2, workers) if workers > 1 and rng.random() < 1 / 3 else 1
                victims = rng.sample(sorted(running), count)
                moment = _log_state(url)
                before = ct._qad_rows(state)
                for n in victims:
                    ct.Procs.kill(running[n])
                    procs.procs.remove(running[n])
                kills[moment] += len(victims)
                several += count > 1
                if count == len(running):  # nobody left posting: what lands now was in flight
                    time.sleep(write_latency * 2 + 0.1)
                    late = ct._qad_rows(state) - before
                    inflight += late > 0
                else:
                    late = 0
                for n in victims:
                    running[n] = _spawn_worker(procs, world, crash_cfg, n)
                _say(
                    f"trial {i}/{trials}: killed worker(s) {victims} during {moment}"
                    + (f"; QAD committed {late} row(s) after the kill" if late else "")
                )
            for proc in running.values():  # the survivors stop cleanly
                proc.terminate()
            for proc in running.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            takeovers = max(0, _lease_generation(url) - 1)
            final = ct.run_sync(procs, world, crash_cfg, timeout_s=sync_timeout_s)
            _say(f"final sync --once on PostgreSQL {final.wall_s:.1f} s")

            expected = snapshot(world.tenants["clean"][1])
            diff = diff_snapshots(expected, snapshot(state))
            truth = ct.settlement_truth(seed, orders, start)
            bad = ct.unreconciled(state, truth)
            for example in diff["examples"] + bad:
                _say(f"  {example}")
            return {
                "workers": workers,
                "trials": trials,
                "kills": sum(kills.values()),
                "kills_by_moment": dict(kills),
                "trials_killing_several": several,
                "inflight_commits": inflight,
                "lease_takeovers": takeovers,
                "lost": diff["lost"],
                "duplicated": diff["duplicated"],
                "mismatched": diff["mismatched"],
                "unreconciled": len(bad),
                "settlements": len(truth),
                "orders": orders,
                "docs": expected.counts(),
                "clean_run_s": round(clean.wall_s, 2),
                "final_run_s": round(final.wall_s, 2),
                "seed": seed,
                "wall_s": round(time.monotonic() - t_start, 1),
                "examples": (diff["examples"] + bad)[:10],
            }
        finally:
            procs.kill_all()


def failed(result: dict[str, Any]) -> bool:
    """crash_test's verdict, and a run whose kills all missed the posting counts as failed too."""
    return ct.failed(result) or not result["kills_by_moment"].get("dispatch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=3, help="worker processes (3)")
    parser.add_argument("--trials", type=int, default=20, help="kill/restart rounds (20)")
    parser.add_argument("--seed", type=int, default=1, help="business and kill seed (1)")
    parser.add_argument("--orders", type=int, default=200, help="orders in the business (200)")
    parser.add_argument(
        "--write-latency", type=float, default=0.3, help="QAD seconds per write (0.3)"
    )
    parser.add_argument(
        "--max-gap", type=float, default=3.0, help="longest pause between kills, s (3)"
    )
    parser.add_argument("--dsn", help="an empty PostgreSQL database (default: a throwaway one)")
    parser.add_argument("--workdir", help="keep everything in this (empty) folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.trials < 1:
        parser.error("--workers and --trials must be at least 1")
    result = run_worker_crash_test(
        workers=args.workers,
        trials=args.trials,
        seed=args.seed,
        orders=args.orders,
        write_latency=args.write_latency,
        max_gap_s=args.max_gap,
        dsn=args.dsn,
        workdir=args.workdir,
        keep=args.keep,
    )
    print(json.dumps(result), flush=True)
    return 1 if failed(result) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
