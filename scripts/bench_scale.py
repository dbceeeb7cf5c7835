#!/usr/bin/env python3
"""Scale benchmark: N sellers x M orders through K ``run --worker`` processes on PostgreSQL,
K = 1..4, against the same books from a single-process SQLite run.

What it does
  1. Starts N Amazon simulators (one seller each, seeds seed..seed+N-1, M orders, the quiet
     business of scripts/crash_test.py: nothing changes while the bench runs) and one QAD
     simulator with a tenant per seller and run: ``ref_s{i}`` and ``k{K}_s{i}``, each posting
     with ``--write-latency`` (default 0.02 s, so posts take time as real ones do).
  2. One vault: an Amazon credential per seller, a QAD credential per tenant.
  3. Reference: ``sync --once`` per seller on its own SQLite log into ``ref_s{i}``, one process
     at a time; its wall time and CPU give the single-process figures.
  4. For each K: a fresh PostgreSQL database, N partition configs (``[engine] partition =
     "s{i}"``) in one folder and K ``run --worker --partitions DIR`` processes. The clock runs
     from their start until every partition is settled, read from the database: all M orders
     fetched, every stream holding at least the reference log's records, at least the
     reference's commands and none open, the same over two checks. Then each worker's CPU
     (utime + stime from /proc/<pid>/stat, read before the SIGTERM), the simulators' CPU and
     the whole machine's (/proc/stat) over the same window, and each tenant's books against
     ``ref_s{i}`` (engine.sim.qad.snapshot: lost / duplicated / mismatched, all must be 0).

What binds (``bound`` per K, ``bound_by`` = the one at the largest K). The first that holds of:
  - ``qad_rate_limit``: the QAD token bucket ran full: per tenant, the attempts beyond the
    burst over the span from first to last attempt need (attempts - burst) / rate seconds, and
    that is >= 85 % of the span (``qad_rate_use``, mean over tenants; never with --qad-rate 0);
  - ``qad_simulator`` / ``amazon_simulator``: a simulator process (one event loop, one core at
    most) used >= 85 % of a core over the window;
  - ``machine_cpu``: all processes together (workers, simulators, PostgreSQL, this script,
    anything else on the machine: ``others_cpu_s``) kept >= 75 % of the cores busy over the
    window (``machine_util``: each post is handed along single-threaded processes, and past
    that they queue for a core at every hand-over), or the workers spent >= 30 % of the time
    they wanted a core waiting for one (``worker_wait_share``: run-queue time of each
    worker's main thread, /proc/<pid>/schedstat); ``cpu_ceiling_orders_per_s`` is the rate
    the cores could give at the bench's own CPU per order (``cpu_ms_per_order``);
  - ``polling``: the last record reached the logs only in the last 20 % of the run
    (``fetched_s`` >= 0.8 ``wall_s``): the wall is the pollers' (workers' start-up, the Amazon
    simulator's report processing), not the posting; more orders per seller show the scaling;
  - ``none``: nothing above: the workers' posts in flight set the pace ([dispatch]
    concurrency per worker and partition, each post waiting on QAD's writes and PostgreSQL
    round trips), so more workers help while the cores have room.
``bound_from`` is the smallest K from which the same bound holds for every larger K.

One machine runs it all: the N + 1 simulators, PostgreSQL (the throwaway cluster runs with
fsync off, as in the tests) and the K workers share its cores, and each worker pays its own
start-up (imports, opening every partition, the QAD probes). On 2 cores ``machine_cpu`` is the
expected answer from K = 2 on; ``others_cpu_s`` is the CPU that processes outside the bench
took in the window: figures from a machine busy with other work are not clean.

Output: progress and a table on stderr, one JSON line on stdout. Exit 1 on any lost,
duplicated or mismatched document (or a failed run), 0 otherwise. Speed is never a failure.

Examples
  python scripts/bench_scale.py                        # 4 sellers x 200 orders, K = 1..4
  python scripts/bench_scale.py --qad-rate 10 --workers 1,2  # QAD's default rate binds
  python scripts/bench_scale.py --workers 1,2 --sellers 2 --orders 15    # the CI short form
  python scripts/bench_scale.py --dsn postgresql://localhost/postgres    # databases made there
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import crash_test as ct  # noqa: E402
import scale_db as pg  # noqa: E402
import scale_figures as fig  # noqa: E402

from engine.config import DispatchConfig  # noqa: E402
from engine.security.vault import Vault  # noqa: E402
from engine.sim.qad.snapshot import snapshot  # noqa: E402

LEASE_S = 3.0  # the shortest lease: a worker started later gets its share within a second
QAD_BURST = DispatchConfig().qad_burst  # the configs keep the default burst


def _say(msg: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Bench:
    """The simulators, the vault and one World per seller (its Amazon endpoints)."""

    procs: ct.Procs
    worlds: list[ct.World]
    amazon: list[subprocess.Popen[str]]
    qad: subprocess.Popen[str]
    orders: int  # per seller

    def reading(self, server: int | None = None) -> fig.Reading:
        return fig.Reading.take([p.pid for p in self.amazon], self.qad.pid, server)


def start_bench(
    procs: ct.Procs,
    workdir: Path,
    *,
    sellers: int,
    orders: int,
    ks: list[int],
    seed: int,
    write_latency: float,
) -> Bench:
    key, env = ct.machine_env(workdir)
    start = datetime.now(UTC).replace(microsecond=0)
    tenants = [f"{run}_s{i}" for run in ["ref", *(f"k{k}" for k in ks)] for i in range(sellers)]
    amazon = [
        ct.spawn_amazon(procs, env, seed=seed + i, orders=orders, start=start)
        for i in range(sellers)
    ]
    qad = ct.spawn_qad(
        procs, env, workdir / "qad.db", tenants, seed=seed, write_latency=write_latency
    )
    seller_info = [ct.amazon_banner(proc) for proc in amazon]
    qad_sim = ct.qad_banner(qad)
    vault = Vault.open(workdir / "vault.bin", key, create=True)
    for i, seller in enumerate(seller_info):
        vault.put(seller.credential(f"s{i}"))
    for name in tenants:
        vault.put(qad_sim.credential(name, name))
    vault.save()
    worlds = [
        ct.World(workdir, env, workdir / "vault.bin", s.url, s.lwa_url, qad_sim.tenants)
        for s in seller_info
    ]
    return Bench(procs, worlds, amazon, qad, orders)


def seller_config(
    world: ct.World, tenant: str, seller: int, qad_rate: float, db: str | None = None
) -> Path:
    """Seller ``seller``'s config posting into ``tenant``: its own SQLite log, or partition
    ``s{seller}`` of the PostgreSQL database ``db``."""
    from engine.config import load_config, to_toml

    path = ct.write_config(world, tenant)
    cfg = load_config(path)
    cfg = dataclasses.replace(
        cfg,
        amazon=dataclasses.replace(cfg.amazon, credential=f"s{seller}"),
        qad=dataclasses.replace(cfg.qad, credential=tenant),
        dispatch=dataclasses.replace(cfg.dispatch, qad_rate_per_s=qad_rate),
    )
    if db is not None:
        engine = dataclasses.replace(cfg.engine, db=db, partition=f"s{seller}")
        poll = dataclasses.replace(cfg.poll, raw_dir=str(path.parent / "raw"))
        cfg = dataclasses.replace(cfg, engine=engine, poll=poll)
    path.write_text(to_toml(cfg), encoding="utf-8")
    return path


def run_reference(bench: Bench, qad_rate: float, timeout_s: float) -> dict[str, Any]:
    """``sync --once`` per seller into ``ref_s{i}``, one after the other, on SQLite."""
    walls: list[float] = []
    start = bench.reading()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # each sync is reaped: counted here
    for i, world in enumerate(bench.worlds):
        cfg = seller_config(world, f"ref_s{i}", i, qad_rate)
        run = ct.run_sync(bench.procs, world, cfg, timeout_s=timeout_s)
        walls.append(round(run.wall_s, 2))
        _say(f"reference s{i}: sync --once on SQLite {run.wall_s:.1f} s")
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tenants = bench.worlds[0].tenants
    books = [snapshot(tenants[f"ref_s{i}"][1]).counts() for i in range(len(walls))]
    return {
        "backend": "sqlite, one sync --once per seller in turn",
        "wall_s": round(sum(walls), 2),
        "orders_per_s": round(len(walls) * bench.orders / sum(walls), 1),
        "sync_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
        "per_seller_wall_s": walls,
        **bench.reading().since(start),
        "docs": {kind: sum(b[kind] for b in books) for kind in books[0]},
        "duplicates": sum(b["duplicates"] for b in books),
    }


def _last_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln]
    return f"{log.name}: {lines[-1][:300]}" if lines else f"{log.name} is empty"


def _spawn_workers(bench: Bench, parts: Path, k: int) -> list[subprocess.Popen[str]]:
    world = bench.worlds[0]
    procs = []
    for n in range(k):
        # The child writes to its own copy of the descriptor; ours is closed at once.
        with (parts.parent / f"worker-{n}.log").open("a", encoding="utf-8") as log:
            argv = ct._engine_cmd(
                "run", "--worker", "--partitions", str(parts), "--vault", str(world.vault),
                "--lease", str(LEASE_S), "--drain", "2",
            )  # fmt: skip
            procs.append(
                bench.procs.spawn(argv, world.env, stdout=log, stderr=log, cwd=parts.parent)
            )
    return procs


def run_workers(
    bench: Bench,
    k: int,
    url: str,
    *,
    orders: int,
    qad_rate: float,
    expected: list[dict[str, int]],
    timeout_s: float,
) -> dict[str, Any]:
    """One K: N partitions on ``url``, K workers, measured until settled, then books."""
    parts = bench.worlds[0].workdir / f"k{k}" / "partitions"
    parts.mkdir(parents=True)
    for i, world in enumerate(bench.worlds):
        cfg = seller_config(world, f"k{k}_s{i}", i, qad_rate, db=url)
        (parts / f"s{i}.toml").write_text(cfg.read_text(encoding="utf-8"), encoding="utf-8")
    postmaster = pg.server_pid(url)
    start = bench.reading(postmaster)
    t0 = start.at
    workers = _spawn_workers(bench, parts, k)
    try:
        try:
            times = pg.wait_settled(url, expected, orders, workers, _say, t0, timeout_s)
        except RuntimeError as exc:  # name what the dead worker said last
            dead = [n for n, w in enumerate(workers) if w.poll() is not None]
            said = [_last_line(parts.parent / f"worker-{n}.log") for n in dead]
            raise RuntimeError(f"K={k}: {exc}" + "".join(f"; {x}" for x in said)) from None
        # Before the stop, while /proc still has them; the window ends at this reading.
        worker_cpu = [fig.process_cpu(w.pid) for w in workers]
        worker_wait = [fig.cpu_wait(w.pid) for w in workers]
        end = bench.reading(postmaster)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.wait(timeout=30)
            with contextlib.suppress(ValueError):
                bench.procs.procs.remove(w)
    use = pg.qad_rate_use(url, len(bench.worlds), qad_rate, QAD_BURST)
    return {
        "workers": k,
        "wall_s": round(times.settled_s, 2),
        "first_order_s": round(times.first_order_s, 2),
        "fetched_s": round(times.fetched_s, 2),
        "worker_cpu_s": [round(c, 2) for c in worker_cpu],
        "worker_cpu_wait_s": [round(c, 2) for c in worker_wait],
        **end.since(start),
        **use,
        "books": fig.books(bench.worlds[0].tenants, len(bench.worlds), f"k{k}"),
    }


def run_bench(
    *,
    sellers: int = 4,
    orders: int = 200,
    ks: list[int] | None = None,
    seed: int = 1,
    qad_rate: float = 0.0,
    write_latency: float = 0.02,
    dsn: str | None = None,
    workdir: str | None = None,
    keep: bool = False,
    timeout_s: float = 600.0,
    procs: ct.Procs | None = None,
) -> dict[str, Any]:
    """The whole bench; returns the result dict (the JSON line)."""
    t_start = time.monotonic()
    ks = ks or [1, 2, 3, 4]
    procs = procs if procs is not None else ct.Procs()
    cores = os.cpu_count() or 1
    with ct._workdir(workdir, keep) as wd, pg.databases(dsn, keep) as fresh:
        try:
            _say(f"workdir {wd}; {sellers} sellers x {orders} orders; K = {ks}; {cores} cores")
            bench = start_bench(
                procs, wd, sellers=sellers, orders=orders, ks=ks, seed=seed,
                write_latency=write_latency,
            )  # fmt: skip
            reference = run_reference(bench, qad_rate, timeout_s)
            expected = [pg.expected_counts(wd / f"ref_s{i}" / "events.db") for i in range(sellers)]
            runs: list[dict[str, Any]] = []
            for k in ks:
                url = fresh(f"k{k}")
                _say(f"K={k}: {k} worker(s), {sellers} partitions on a fresh database")
                run = run_workers(
                    bench, k, url, orders=orders, qad_rate=qad_rate, expected=expected,
                    timeout_s=timeout_s,
                )  # fmt: skip
                runs.append(fig.add_figures(run, runs, sellers * orders, cores))
                _say(
                    f"K={k}: {run['wall_s']:.1f} s, {run['orders_per_s']} orders/s, "
                    f"workers' CPU {run['worker_cpu_s']} s; bound: {run['bound_reason']}; "
                    f"books {[run['books'][x] for x in ('lost', 'duplicated', 'mismatched')]}"
                )
            result = {
                "sellers": sellers,
                "orders_per_seller": orders,
                "orders": sellers * orders,
                "cores": cores,
                "qad_rate_per_s": qad_rate,
                "qad_burst": QAD_BURST,
                "write_latency_s": write_latency,
                "reference": reference,
                "runs": runs,
                **fig.verdict(runs),
                "lost": sum(r["books"]["lost"] for r in runs),
                "duplicated": reference["duplicates"] + sum(r["books"]["duplicated"] for r in runs),
                "mismatched": sum(r["books"]["mismatched"] for r in runs),
                "seed": seed,
                "bench_wall_s": round(time.monotonic() - t_start, 1),
            }
            fig.print_table(result)
            return result
        finally:
            procs.kill_all()


def failed(result: dict[str, Any]) -> bool:
    return "error" in result or any(result[k] for k in ("lost", "duplicated", "mismatched"))


def _ks(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a list like 1,2,3,4") from None
    if not ks or min(ks) < 1 or len(set(ks)) != len(ks):
        raise argparse.ArgumentTypeError(f"{text!r}: distinct worker counts >= 1, e.g. 1,2,3,4")
    return ks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sellers", type=int, default=4, help="sellers = partitions, N (4)")
    parser.add_argument("--orders", type=int, default=200, help="orders per seller, M (200)")
    parser.add_argument(
        "--workers",
        dest="ks",
        type=_ks,
        default=[1, 2, 3, 4],
        help="worker counts K to measure (1,2,3,4)",
    )
    parser.add_argument("--seed", type=int, default=1, help="first seller's seed (1)")
    parser.add_argument(
        "--qad-rate",
        type=float,
        default=0.0,
        help="[dispatch] qad_rate_per_s per QAD tenant, shared by all workers (0 = unlimited, "
        "the default, so the workers' scaling shows; the engine's default is 10)",
    )
    parser.add_argument(
        "--write-latency", type=float, default=0.02, help="QAD seconds per write (0.02)"
    )
    parser.add_argument(
        "--dsn", help="a PostgreSQL server (a role that may CREATE DATABASE): one database per "
        "K is made beside this one's (default: a throwaway cluster)"
    )  # fmt: skip
    parser.add_argument(
        "--timeout", dest="timeout_s", type=float, default=600.0, help="seconds per run (600)"
    )
    parser.add_argument("--workdir", help="keep everything in this (empty) folder")
    parser.add_argument("--keep", action="store_true", help="keep the folder and databases")
    args = parser.parse_args(argv)
    if args.sellers < 1 or args.orders < 1 or args.qad_rate < 0 or args.write_latency < 0:
        parser.error("--sellers and --orders >= 1, --qad-rate and --write-latency >= 0")
    try:
        result = run_bench(**vars(args))  # each option's dest is run_bench's parameter
    except RuntimeError as exc:
        _say(f"error: {exc}")
        result = {"error": str(exc)}
    print(json.dumps(result), flush=True)
    return 1 if failed(result) else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
