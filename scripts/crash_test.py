#!/usr/bin/env python3
"""Crash test: ``kill -9`` the sync engine at random moments and prove the QAD books still match.

What it does
  1. Starts both simulators as separate processes: ``ml-connector sim amazon`` (a small seeded
     business) and ``ml-connector sim qad`` with two tenants, ``clean`` and ``crash``, each in
     its own SQLite state file, with ``--write-latency`` so posts stay in flight for a while.
  2. Writes a credential vault (key in $ML_CONNECTOR_KEY) and one config per tenant.
  3. Clean run: ``ml-connector sync --once`` into tenant ``clean``, uninterrupted. Its stderr
     progress lines time the phases (poll, projection, dispatch).
  4. Crash run into tenant ``crash``, with its own event log: N times (default 50) start
     ``sync --once`` and ``kill -9`` its process group at a seeded random moment. Each trial
     aims at one phase: during polling (from start), projection (after the last "polled"
     line) or dispatch (after "projected"), with a random delay inside that phase. Kills land
     mid-post (QAD commits a write after the engine died: counted as ``inflight_commits``)
     and inside log transactions (projection and dispatch bookkeeping are SQLite
     transactions).
  5. Lets it finish: ``sync --once`` to completion.
  6. Compares the two tenants with engine.sim.qad.snapshot (lost / duplicated / mismatched
     documents) and reconciles every published settlement in the crash tenant against the
     simulator's truth: invoice amount = settlement total, journal balances, clearing lines
     sum to the total.

Determinism (why both runs see the same Amazon data)
  The Amazon simulator's clock moves with real time (the engine asks for windows ending
  "now - 2 min" by its own clock, and the simulator enforces that rule against its clock, so
  the clock cannot simply be frozen), and orders change status (ship, cancel, refund up to
  16 days after purchase), settlements publish every 14 days and FBA stock arrives weekly.
  So both runs share ONE Amazon simulator whose business *no longer changes*:
  ``--quiet-days 17 --history-days 1 --orders-per-day 0``: every order was placed on one day
  18 days ago, so all its events are in the past; the clock still reads the real time. The
  day count (1 + 17 = 18, i.e. 4 mod 14) puts "now" in the middle of a settlement period and
  away from an FBA arrival, so nothing is published while the test runs, and 18 days is
  within the engine's 30-day initial look-back. The two runs differ only in the QAD tenant
  and the event log. ``--start`` is fixed by this script so it can rebuild the same truth
  in-process for the settlement reconciliation. The simulated clock runs 10x real time
  (TIME_SCALE) so the simulator's 45 s report processing takes seconds: it stays ahead of the
  engine's clock, which is all the 2-minute rule needs, and a quiet business looks the same
  at any clock speed.

Kill phases are read from the sync's own progress lines at the moment of the kill ("poll"
until every poller reported, "project" until "projected", then "dispatch"); a trial aimed at
a phase that is already over (the crash run caught up) lands in a later one, and a sync that
ends before its kill counts as ``finished_before_kill``. ``inflight_commits`` counts kills
after which QAD still committed a write the dead engine had sent.

Output: progress on stderr, one JSON line on stdout (trials, lost, duplicated, mismatched,
unreconciled, kills_by_phase, ...). Exit 1 if any of lost/duplicated/mismatched/unreconciled
is non-zero or a run failed, 0 otherwise.

Examples
  python scripts/crash_test.py                        # 50 trials, 400 orders, seed 1 (~5 min)
  python scripts/crash_test.py --trials 5 --orders 30 --seed 7
  python scripts/crash_test.py --keep --workdir /tmp/crash   # keep logs and state files
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.security.keys import encode_key, generate_key
from engine.security.vault import AmazonCredential, QadCredential, Vault
from engine.sim.qad.snapshot import diff_snapshots, snapshot

QUIET_DAYS = 17  # > the simulator's 16-day order lag: every order event is in the past
HISTORY_DAYS = 1  # QUIET_DAYS + HISTORY_DAYS = 18 = 4 (mod 14): see the module docstring
# The simulated clock runs this much faster than real time: report processing (45 sim s) takes
# seconds, not a minute. It stays ahead of the engine's clock, which is all the 2-minute rule
# needs, and a quiet business does not change however fast its clock runs.
TIME_SCALE = 10.0
PHASES = ("poll", "project", "dispatch")
START_TIMEOUT_S = 30.0


def _say(msg: str) -> None:
    print(f"[crash] {msg}", file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------------------------


class Procs:
    """Child processes, each in its own session; ``kill_all`` SIGKILLs every process group."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.pids: list[int] = []  # every process ever started (group leaders)

    def spawn(self, argv: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(argv, env=env, text=True, start_new_session=True, **kw)
        self.procs.append(proc)
        self.pids.append(proc.pid)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[str]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def kill_all(self) -> None:
        for proc in self.procs:
            self.kill(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()
        self.procs.clear()


def _engine_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


def _read_banner(proc: subprocess.Popen[str], last: str) -> list[str]:
    """Lines a simulator prints until the one containing ``last``."""
    assert proc.stdout is not None
    lines: list[str] = []
    box: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            box.put(line)
            if last in line:
                break
        else:
            box.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            line = box.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"simulator did not start: {''.join(lines)!r}") from None
        if line is None:
            raise RuntimeError(f"simulator exited: {''.join(lines)!r}")
        lines.append(line.rstrip("\n"))
        if last in line:
            return lines


@dataclass
class World:
    workdir: Path
    env: dict[str, str]
    vault: Path
    amazon_url: str = ""
    lwa_url: str = ""
    tenants: dict[str, tuple[str, Path]] = field(default_factory=dict)  # name -> (url, state)


def machine_env(workdir: Path) -> tuple[bytes, dict[str, str]]:
    """A new master key and the children's environment carrying it ($ML_CONNECTOR_KEY)."""
    key = generate_key()
    env = {**os.environ, "ML_CONNECTOR_KEY": encode_key(key), "PYTHONUNBUFFERED": "1"}
    env.pop("ML_CONNECTOR_VAULT", None)
    # Per-run machine state (tenant claims): a simulator port reused by a later run must not
    # meet this run's claim.
    env["XDG_CONFIG_HOME"] = str(workdir / "xdg")
    return key, env


def spawn_amazon(
    procs: Procs, env: dict[str, str], *, seed: int, orders: int, start: datetime
) -> subprocess.Popen[str]:
    """An Amazon simulator of the quiet business (see the module docstring); the seed picks
    the seller and its orders. Read its endpoints with ``amazon_banner``."""
    return procs.spawn(
        _engine_cmd(
            "sim", "amazon", "--seed", str(seed), "--orders-per-day", "0",
            "--history-days", str(HISTORY_DAYS), "--total-orders", str(orders),
            "--quiet-days", str(QUIET_DAYS), "--start", start.isoformat(), "--no-rate-limits",
            "--time-scale", str(TIME_SCALE),
        ),
        env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def spawn_qad(
    procs: Procs,
    env: dict[str, str],
    state: Path,
    tenants: Sequence[str],
    *,
    seed: int,
    write_latency: float,
) -> subprocess.Popen[str]:
    """A QAD simulator holding ``tenants`` (each its own state file beside ``state``)."""
    argv = _engine_cmd("sim", "qad", "--state", str(state))
    for name in tenants:
        argv += ["--tenant", name]
    argv += ["--seed", str(seed), "--write-latency", str(write_latency)]
    return procs.spawn(argv, env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


@dataclass(frozen=True)
class AmazonSeller:
    """What an Amazon simulator's banner says: its endpoints and its seller's login."""

    url: str
    lwa_url: str
    fields: dict[str, str]  # client_id, client_secret, seller_id
    refresh_tokens: dict[str, str]  # region -> token

    def credential(self, name: str) -> AmazonCredential:
        return AmazonCredential(
            name=name,
            client_id=self.fields["client_id"],
            client_secret=self.fields["client_secret"],
            refresh_tokens=self.refresh_tokens,
            seller_id=self.fields["seller_id"],
        )


def amazon_banner(proc: subprocess.Popen[str]) -> AmazonSeller:
    url = lwa_url = ""
    fields: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for line in _read_banner(proc, "Press Ctrl-C"):
        parts = line.split()
        if line.startswith("Amazon SP-API simulator at"):
            url = parts[4]
        elif "LWA token URL:" in line:
            lwa_url = parts[-1]
        elif line.strip().startswith("refresh_token"):
            tokens[parts[1].rstrip(":")] = parts[2]
        elif ":" in line and len(parts) == 2:
            fields[parts[0].rstrip(":")] = parts[1]
    return AmazonSeller(url, lwa_url, fields, tokens)


@dataclass(frozen=True)
class QadTenants:
    """What a QAD simulator's banner says: its tenants and the demo login they all accept."""

    tenants: dict[str, tuple[str, Path]]  # name -> (url, state file)
    user: str
    password: str

    def credential(self, name: str, tenant: str) -> QadCredential:
        return QadCredential(
            name=name,
            tenant_url=self.tenants[tenant][0],
            username=self.user,
            password=self.password,
            domain="10USA",
            entity="10USACO",
        )


def qad_banner(proc: subprocess.Popen[str]) -> QadTenants:
    tenants: dict[str, tuple[str, Path]] = {}
    user = password = ""
    for line in _read_banner(proc, "press Ctrl-C"):
        parts = line.split()
        if line.startswith("QAD tenant"):
            tenants[parts[2].rstrip(":")] = (parts[3], Path(parts[5].rstrip(")")))
        elif line.startswith("demo user:"):
            user, password = parts[2], parts[4]
    return QadTenants(tenants, user, password)


def start_simulators(
    procs: Procs, workdir: Path, *, seed: int, orders: int, start: datetime, write_latency: float
) -> World:
    key, env = machine_env(workdir)
    amazon = spawn_amazon(procs, env, seed=seed, orders=orders, start=start)
    qad = spawn_qad(
        procs, env, workdir / "qad.db", ("clean", "crash"), seed=seed, write_latency=write_latency
    )
    seller = amazon_banner(amazon)
    qad_sim = qad_banner(qad)
    world = World(workdir, env, workdir / "vault.bin", seller.url, seller.lwa_url, qad_sim.tenants)
    vault = Vault.open(world.vault, key, create=True)
    vault.put(seller.credential("default"))
    vault.put(qad_sim.credential("default", "clean"))
    vault.save()
    return world


def write_config(world: World, name: str, orders_api: str = "2026-01-01") -> Path:
    """A config for one run: its own event log directory and QAD tenant."""
    from engine.config import to_toml
    from engine.ops.demo import simulator_config

    run_dir = world.workdir / name
    run_dir.mkdir(exist_ok=True)
    cfg = simulator_config(
        run_dir / "events.db",
        amazon_base=world.amazon_url,
        lwa_url=world.lwa_url,
        qad_url=world.tenants[name][0],
        orders_api=orders_api,
    )
    # Retries after an unknown outcome come quickly, so trials stay short.
    fast = dataclasses.replace(cfg.dispatch, retry_base_s=0.2, retry_cap_s=2.0, timeout_s=10.0)
    # One complete FBA snapshot confirms a mapped item Amazon does not hold (default 2): the
    # single-pass clean run then holds the same zeroed FBA site as the many-pass crash run.
    once = dataclasses.replace(cfg.inventory, absent_after_snapshots=1)
    path = run_dir / "config.toml"
    path.write_text(
        to_toml(dataclasses.replace(cfg, dispatch=fast, inventory=once)), encoding="utf-8"
    )
    return path


# -- one sync run ---------------------------------------------------------------------------------


@dataclass
class SyncRun:
    rc: int | None = None  # None: killed
    wall_s: float = 0.0
    marks: list[tuple[float, str]] = field(default_factory=list)  # (seconds after spawn, line)
    phase: str = ""  # phase at the kill (from the progress lines seen so far)


def _phase(marks: list[tuple[float, str]], n_pollers: int) -> str:
    """The phase a kill landed in, from the progress lines printed so far."""
    lines = [m for _, m in marks]
    if any(ln.startswith("projected") for ln in lines):
        return "dispatch"
    if n_pollers and sum(ln.startswith("polled") for ln in lines) >= n_pollers:
        return "project"
    return "poll"


def run_sync(
    procs: Procs,
    world: World,
    config: Path,
    *,
    kill_at: tuple[str, float] | None = None,
    n_pollers: int = 0,
    timeout_s: float = 600.0,
) -> SyncRun:
    """``sync --once``; with ``kill_at=(phase, delay)``: SIGKILL ``delay`` s into that phase."""
    t0 = time.monotonic()
    proc = procs.spawn(
        _engine_cmd("sync", "--once", "--config", str(config), "--vault", str(world.vault)),
        world.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=world.workdir,
    )
    run = SyncRun()
    lines: queue.Queue[str | None] = queue.Queue()
    tail: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stderr:
                lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    phase_start: float | None = 0.0 if kill_at is None or kill_at[0] == "poll" else None
    polled = 0
    eof = False
    try:
        while True:
            now = time.monotonic() - t0
            if kill_at is not None and phase_start is not None and now >= phase_start + kill_at[1]:
                run.phase = _phase(run.marks, n_pollers)
                Procs.kill(proc)
                break
            if now > timeout_s:
                Procs.kill(proc)
                raise RuntimeError(f"sync did not finish in {timeout_s:.0f} s: {tail[-5:]}")
            wait = 0.2
            if kill_at is not None and phase_start is not None:
                wait = max(0.0, min(wait, phase_start + kill_at[1] - now))
            try:
                line = lines.get(timeout=wait) if not eof else None
            except queue.Empty:
                continue
            if line is None:
                if not eof:
                    eof = True
                try:
                    run.rc = proc.wait(timeout=wait or 0.01)
                    break
                except subprocess.TimeoutExpired:
                    continue
            at = time.monotonic() - t0
            tail.append(line)
            if line.startswith(("polled", "projected", "dispatched")):
                run.marks.append((at, line))
            if line.startswith("polled"):
                polled += 1
                if kill_at is not None and kill_at[0] == "project" and polled >= n_pollers:
                    phase_start = at
            elif (
                line.startswith("projected")
                and kill_at is not None
                # "project" starts here if a poller printed nothing (it failed).
                and (kill_at[0] == "dispatch" or phase_start is None)
            ):
                phase_start = at
    finally:
        run.wall_s = time.monotonic() - t0
        if proc.stderr is not None:
            with contextlib.suppress(Exception):
                proc.stderr.close()
        with contextlib.suppress(ValueError):
            procs.procs.remove(proc)
    if run.rc not in (None, 0):
        raise RuntimeError(f"sync exited {run.rc}: {tail[-8:]}")
    return run


def _qad_rows(state: Path) -> int:
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return sum(
            db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("so_mstr", "ar_mstr", "gltr_hist", "tr_hist")
        )
    finally:
        db.close()


# -- checks ---------------------------------------------------------------------------------------


def settlement_truth(seed: int, orders: int, start: datetime) -> dict[str, Decimal]:
    """Published settlements of the same business (rebuilt in-process): reference -> total."""
    from engine.sim.amazon import AmazonSimulator

    sim = AmazonSimulator(
        seed=seed,
        orders_per_day=0,
        history_days=HISTORY_DAYS,
        total_orders=orders,
        start=start - timedelta(days=QUIET_DAYS),
        rate_limits=False,
    )
    sim.clock.advance(timedelta(days=QUIET_DAYS) + (datetime.now(UTC) - start))
    return {f"AMZ-STL-{s.settlement_id}": s.total for s in sim.truth.settlements()}


def unreconciled(state: Path, truth: dict[str, Decimal], clearing: str = "1250") -> list[str]:
    """Settlements whose invoice or journal does not add up to the settlement total."""
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    bad: list[str] = []
    try:
        for ref, total in sorted(truth.items()):
            # Positive: an invoice; negative: a credit note (ar_type M, positive amount); zero:
            # no deposit document at all, the journal alone.
            found = db.execute(
                "SELECT ar_amt, ar_type FROM ar_mstr WHERE ar_po = ?", (ref,)
            ).fetchall()
            inv = [(a if t == "I" else -Decimal(str(a)),) for a, t in found]
            rows = db.execute(
                "SELECT gltr_acc, gltr_amt FROM gltr_hist WHERE gltr_doc = ? AND gltr_doc_typ='JL'",
                (ref,),
            ).fetchall()
            amounts = [Decimal(str(a)) for _, a in rows]
            clear = sum((Decimal(str(a)) for acc, a in rows if acc == clearing), Decimal(0))
            if total == 0 and inv:
                bad.append(f"{ref}: zero settlement has a deposit document {inv}")
            elif total and (len(inv) != 1 or Decimal(str(inv[0][0])) != total):
                bad.append(f"{ref}: invoice {[r[0] for r in inv]} != total {total}")
            elif (total and not rows) or sum(amounts, Decimal(0)) != 0:
                bad.append(f"{ref}: journal missing or unbalanced ({len(rows)} lines)")
            elif clear != total:
                bad.append(f"{ref}: clearing {clear} != total {total}")
    finally:
        db.close()
    return bad


# -- the test -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _workdir(path: str | None, keep: bool) -> Iterator[Path]:
    if path:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        if any(p.iterdir()):  # old QAD state or event logs would falsify the comparison
            raise RuntimeError(f"--workdir {p} is not empty")
        yield p
    elif keep:
        yield Path(tempfile.mkdtemp(prefix="crash-test-"))
    else:
        with tempfile.TemporaryDirectory(prefix="crash-test-") as d:
            yield Path(d)


def run_crash_test(
    *,
    trials: int = 50,
    seed: int = 1,
    orders: int = 400,
    write_latency: float = 0.15,
    max_dispatch_kill_s: float = 3.0,
    workdir: str | None = None,
    keep: bool = False,
    procs: Procs | None = None,
    sync_timeout_s: float = 600.0,
    orders_api: str = "2026-01-01",
) -> dict[str, Any]:
    """Run the whole crash test; return the result dict (the JSON line).

    ``procs`` (optional) records every child process, so a caller can check none is left.
    """
    t_start = time.monotonic()
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0)
    procs = procs if procs is not None else Procs()
    with _workdir(workdir, keep) as wd:
        try:
            _say(f"workdir {wd}; starting simulators ({orders} orders, seed {seed})")
            world = start_simulators(
                procs, wd, seed=seed, orders=orders, start=start, write_latency=write_latency
            )
            clean_cfg = write_config(world, "clean", orders_api)
            crash_cfg = write_config(world, "crash", orders_api)

            _say("clean run: sync --once, uninterrupted")
            clean = run_sync(procs, world, clean_cfg, timeout_s=sync_timeout_s)
            for t, m in clean.marks:
                _say(f"  clean run +{t:.1f} s: {m}")
            polled = [t for t, m in clean.marks if m.startswith("polled")]
            projected = next(t for t, m in clean.marks if m.startswith("projected"))
            n_pollers = len(polled)
            windows = {
                "poll": (0.1, max(polled)),  # from spawn (imports + engine open + polling)
                "project": (0.0, max(0.05, projected - max(polled))),
                "dispatch": (0.0, min(max_dispatch_kill_s, max(0.2, clean.wall_s - projected))),
            }
            _say(
                f"clean run {clean.wall_s:.1f} s: polled at {max(polled):.1f} s, projected at "
                f"{projected:.1f} s; kill windows {json.dumps(windows)}"
            )

            kills: Counter[str] = Counter()
            aimed: Counter[str] = Counter()
            finished_early = inflight = 0
            state = world.tenants["crash"][1]
            for i in range(1, trials + 1):
                # The first kill hits the start (the log is being created), later ones any phase.
                target = "startup" if i == 1 else rng.choice(PHASES)
                lo, hi = windows["poll" if target == "startup" else target]
                hi = min(polled) if target == "startup" else hi
                # Log-uniform: the fast flows (orders, settlements) finish in a fraction of a
                # second while the inventory report takes seconds; both get their share.
                delay = math.exp(rng.uniform(math.log(max(lo, 0.01)), math.log(max(hi, 0.02))))
                aimed[target] += 1
                before = _qad_rows(state)
                run = run_sync(
                    procs,
                    world,
                    crash_cfg,
                    kill_at=("poll" if target == "startup" else target, delay),
                    n_pollers=n_pollers,
                    timeout_s=sync_timeout_s,
                )
                if run.rc == 0:
                    finished_early += 1
                    _say(f"trial {i}/{trials}: aimed at {target}, finished before the kill")
                    continue
                kills[run.phase] += 1
                at_kill = _qad_rows(state)
                time.sleep(write_latency * 2 + 0.1)  # writes still in flight commit now
                late = _qad_rows(state) - at_kill
                inflight += late > 0
                _say(
                    f"trial {i}/{trials}: killed after {run.wall_s:.2f} s in {run.phase} "
                    f"(aimed {target} +{delay:.2f} s); QAD rows +{at_kill - before}"
                    + (f", +{late} committed after the kill" if late else "")
                )

            _say("final run: sync --once to completion")
            final = run_sync(procs, world, crash_cfg, timeout_s=sync_timeout_s)
            _say(f"final run {final.wall_s:.1f} s")

            expected = snapshot(world.tenants["clean"][1])
            actual = snapshot(state)
            diff = diff_snapshots(expected, actual)
            truth = settlement_truth(seed, orders, start)
            bad = unreconciled(state, truth)
            bad_clean = unreconciled(world.tenants["clean"][1], truth)
            for ex in diff["examples"] + bad:
                _say(f"  {ex}")
            counts = expected.counts()
            return {
                "trials": trials,
                "lost": diff["lost"],
                "duplicated": diff["duplicated"],
                "mismatched": diff["mismatched"],
                "unreconciled": len(bad),
                "settlements": len(truth),
                "settlements_unreconciled_clean_run": len(bad_clean),
                "orders": orders,
                "docs": counts,
                "kills": sum(kills.values()),
                "kills_by_phase": dict(kills),
                "aimed_by_phase": dict(aimed),
                "finished_before_kill": finished_early,
                "inflight_commits": inflight,
                "clean_run_s": round(clean.wall_s, 2),
                "final_run_s": round(final.wall_s, 2),
                "seed": seed,
                "orders_api": orders_api,
                "wall_s": round(time.monotonic() - t_start, 1),
                "examples": (diff["examples"] + bad)[:10],
            }
        finally:
            procs.kill_all()


def failed(result: dict[str, Any]) -> bool:
    keys = ("lost", "duplicated", "mismatched", "unreconciled")
    return any(result[k] for k in keys) or result["settlements"] == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=50, help="kill/restart cycles (50)")
    parser.add_argument("--seed", type=int, default=1, help="business and kill-schedule seed (1)")
    parser.add_argument("--orders", type=int, default=400, help="orders in the business (400)")
    parser.add_argument(
        "--write-latency",
        type=float,
        default=0.15,
        help="seconds each QAD write waits before or after its commit (0.15)",
    )
    parser.add_argument(
        "--max-dispatch-kill",
        type=float,
        default=3.0,
        help="latest kill in the dispatch phase, s after it starts (3): smaller = more trials "
        "with work left to do",
    )
    parser.add_argument(
        "--orders-api",
        choices=["2026-01-01", "v0"],
        default="2026-01-01",
        help="Orders API the engine uses (default 2026-01-01; v0 = getOrders + getOrderItems + "
        "RDT addresses)",
    )
    parser.add_argument("--workdir", help="keep state, logs and configs here (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    args = parser.parse_args(argv)
    if args.trials < 0 or args.orders < 1 or args.write_latency < 0:
        parser.error("--trials >= 0, --orders >= 1, --write-latency >= 0")
    try:
        result = run_crash_test(
            trials=args.trials,
            seed=args.seed,
            orders=args.orders,
            write_latency=args.write_latency,
            max_dispatch_kill_s=args.max_dispatch_kill,
            workdir=args.workdir,
            keep=args.keep,
            orders_api=args.orders_api,
        )
    except RuntimeError as exc:
        _say(f"error: {exc}")
        print(json.dumps({"trials": args.trials, "error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 1 if failed(result) else 0


if __name__ == "__main__":
    sys.exit(main())
