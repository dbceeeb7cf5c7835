"""What scripts/bench_scale.py measures and derives: CPU and run-queue time from /proc, the
books of each run against the reference, the figures per K, what binds, and the table on
stderr. The rules are stated in bench_scale.py's docstring."""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.sim.qad.snapshot import diff_snapshots, snapshot

BIND = 0.85  # a resource used this much of what it can give is the one that binds
# The machine's cores: busier than this and the processes handing each post along (worker,
# PostgreSQL, QAD simulator, each one event loop) queue for a core at every hand-over, so the
# last quarter cannot be had; or the workers lose this share of their time waiting, runnable,
# for a core (run-queue time), whatever the busy share says.
MACHINE_BOUND = 0.75
WAIT_BOUND = 0.3
POLL_BOUND = 0.8  # the last record fetched this late in the run: the pollers set the wall
_TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after "pid (comm)": fields[0] is the state, [1] the parent, [11:15]
    utime stime cutime cstime in ticks; [] once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_cpu(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) so far; 0 once it is gone."""
    f = proc_stat(pid)
    return (int(f[11]) + int(f[12])) / _TICK if f else 0.0


def cpu_wait(pid: int) -> float:
    """Seconds ``pid``'s main thread (a Python process's event loop) has waited, runnable, for
    a core: what contention for the machine's CPU costs it (/proc/<pid>/schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def server_cpu(postmaster: int) -> float:
    """A PostgreSQL server's CPU so far: the postmaster, the backends it has reaped (cutime,
    cstime) and those still running."""
    f = proc_stat(postmaster)
    if not f:
        return 0.0
    total = sum(int(x) for x in f[11:15]) / _TICK
    for entry in Path("/proc").iterdir():
        if (
            entry.name.isdigit()
            and (child := proc_stat(int(entry.name)))
            and child[1] == str(postmaster)
        ):
            total += (int(child[11]) + int(child[12])) / _TICK
    return total


def machine_cpu() -> float:
    """Busy seconds of every core together (all but idle and iowait) since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in first[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK


@dataclass(frozen=True)
class Reading:
    """CPU seconds so far of everything the bench runs, and of the machine, at one moment."""

    at: float
    machine: float
    amazon: list[float]
    qad: float
    server: float | None
    bench: float

    @classmethod
    def take(cls, amazon: list[int], qad: int, server: int | None) -> Reading:
        me = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            time.monotonic(),
            machine_cpu(),
            [process_cpu(pid) for pid in amazon],
            process_cpu(qad),
            None if server is None else server_cpu(server),
            me.ru_utime + me.ru_stime,
        )

    def since(self, start: Reading) -> dict[str, Any]:
        """The CPU used between ``start`` and this reading."""
        server = None if self.server is None or start.server is None else self.server - start.server
        return {
            "window_s": round(self.at - start.at, 2),
            "sim_cpu_s": {
                "amazon": [round(b - a, 2) for a, b in zip(start.amazon, self.amazon, strict=True)],
                "qad": round(self.qad - start.qad, 2),
            },
            "postgres_cpu_s": None if server is None else round(server, 2),
            "bench_cpu_s": round(self.bench - start.bench, 2),
            "machine_busy_s": round(self.machine - start.machine, 2),
        }


def books(tenants: dict[str, tuple[str, Path]], sellers: int, run: str) -> dict[str, Any]:
    """Every ``{run}_s{i}`` tenant against ``ref_s{i}`` (``tenants``: name -> (url, state
    file)), summed over the sellers, with a few examples of what differs."""
    total: dict[str, Any] = {"lost": 0, "duplicated": 0, "mismatched": 0, "examples": []}
    for i in range(sellers):
        diff = diff_snapshots(
            snapshot(tenants[f"ref_s{i}"][1]), snapshot(tenants[f"{run}_s{i}"][1])
        )
        for key in ("lost", "duplicated", "mismatched"):
            total[key] += diff[key]
        total["examples"] += [f"s{i}: {ex}" for ex in diff["examples"]][:3]
    return total


def add_figures(
    run: dict[str, Any], before: list[dict[str, Any]], orders: int, cores: int
) -> dict[str, Any]:
    """Derived figures of one K's ``run`` (``before``: the smaller Ks' runs, K=1 first)."""
    run["orders_per_s"] = round(orders / run["wall_s"], 1)
    run["speedup"] = round(run["orders_per_s"] / (before or [run])[0]["orders_per_s"], 2)
    ours = sum(run["worker_cpu_s"]) + sum(run["sim_cpu_s"]["amazon"]) + run["sim_cpu_s"]["qad"]
    ours += (run["postgres_cpu_s"] or 0.0) + run["bench_cpu_s"]
    # What else kept the cores busy in the window (other users of the machine; with --dsn to
    # a remote server nothing, with a local one that server too).
    run["others_cpu_s"] = round(max(0.0, run["machine_busy_s"] - ours), 2)
    # The bench's own CPU per order and the rate the cores could give at that cost.
    run["cpu_ms_per_order"] = round(1000 * ours / orders, 1)
    run["cpu_ceiling_orders_per_s"] = round(cores * orders / ours, 1) if ours else None
    run["machine_util"] = round(run["machine_busy_s"] / (cores * run["window_s"]), 2)
    waited, ran = sum(run["worker_cpu_wait_s"]), sum(run["worker_cpu_s"])
    run["worker_wait_share"] = round(waited / (waited + ran), 2) if waited + ran else 0.0
    run["bound"], run["bound_reason"] = bound_of(run, cores)
    return run


def bound_of(run: dict[str, Any], cores: int) -> tuple[str, str]:
    """What binds one K's run, and the figure that says so (bench_scale's docstring)."""
    window = run["window_s"]
    sims = run["sim_cpu_s"]
    qad_sim, amazon_sim = sims["qad"] / window, max(sims["amazon"]) / window
    util = run["machine_busy_s"] / (cores * window)
    if run["qad_rate_use"] >= BIND:
        return "qad_rate_limit", f"QAD bucket {run['qad_rate_use']:.0%} used while posting"
    if qad_sim >= BIND:
        return "qad_simulator", f"QAD simulator used {qad_sim:.0%} of a core"
    if amazon_sim >= BIND:
        return "amazon_simulator", f"an Amazon simulator used {amazon_sim:.0%} of a core"
    if util >= MACHINE_BOUND or run["worker_wait_share"] >= WAIT_BOUND:
        others = run["others_cpu_s"] / (cores * window)
        shared = f", {others:.0%} of it by processes outside the bench" if others > 0.1 else ""
        return "machine_cpu", (
            f"{cores} cores {util:.0%} busy{shared}; the workers waited for a core "
            f"{run['worker_wait_share']:.0%} of the time they wanted one"
        )
    if run["fetched_s"] >= POLL_BOUND * run["wall_s"]:
        return "polling", (
            f"the last record was fetched at {run['fetched_s']:.1f} s of {run['wall_s']:.1f} s: "
            "the wall is the pollers' (start-up, the simulator's report processing)"
        )
    return "none", (
        f"nothing saturated: {cores} cores {util:.0%} busy, workers waited "
        f"{run['worker_wait_share']:.0%} for a core, QAD simulator {qad_sim:.0%} of a core, "
        f"QAD bucket {run['qad_rate_use']:.0%}: the workers' posts in flight set the pace"
    )


def verdict(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``bound_by`` (at the largest K), ``bound_from`` (the smallest K from which the same
    bound holds for every larger K) and the figure behind it."""
    last = runs[-1]["bound"]
    since = runs[-1]["workers"]
    for run in reversed(runs):
        if run["bound"] != last:
            break
        since = run["workers"]
    return {"bound_by": last, "bound_from": since, "bound_reason": runs[-1]["bound_reason"]}


def print_table(result: dict[str, Any]) -> None:
    """The result on stderr: a line per K (CPU columns are seconds over the run's window;
    wait: the share of their time the workers waited for a core; ceiling: orders/s the cores
    could give at the bench's CPU per order)."""
    ref = result["reference"]
    head = ("K", "wall s", "orders/s", "speedup", "workers CPU s", "QAD sim", "Amazon", "PG")
    out = [
        f"{result['sellers']} sellers x {result['orders_per_seller']} orders, "
        f"{result['cores']} cores, QAD rate {result['qad_rate_per_s'] or 'unlimited'}/s per "
        f"tenant, write latency {result['write_latency_s']} s",
        f"reference (SQLite, one process at a time): {ref['wall_s']:.1f} s, "
        f"{ref['orders_per_s']} orders/s, {ref['sync_cpu_s']:.1f} CPU s",
        "{:>2} {:>7} {:>9} {:>8} {:<24} {:>8} {:>7} {:>6}".format(*head)
        + "  others  machine  wait  ceiling  books l/d/m  bound",
    ]
    for r in result["runs"]:
        books = r["books"]
        pg = "-" if r["postgres_cpu_s"] is None else f"{r['postgres_cpu_s']:.1f}"
        out.append(
            f"{r['workers']:>2} {r['wall_s']:>7.1f} {r['orders_per_s']:>9} {r['speedup']:>8} "
            f"{' '.join(f'{c:.1f}' for c in r['worker_cpu_s']):<24} "
            f"{r['sim_cpu_s']['qad']:>8.1f} {sum(r['sim_cpu_s']['amazon']):>7.1f} {pg:>6} "
            f"{r['others_cpu_s']:>7.1f} {r['machine_util']:>8.0%} {r['worker_wait_share']:>5.0%}"
            f" {r['cpu_ceiling_orders_per_s'] or '-':>8}  {books['lost']}/"
            f"{books['duplicated']}/{books['mismatched']}        {r['bound']}"
        )
    out.append(
        f"bound by {result['bound_by']} from K={result['bound_from']}: {result['bound_reason']}"
    )
    print("\n".join(out), file=sys.stderr, flush=True)
