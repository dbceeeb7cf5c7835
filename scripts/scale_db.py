"""The PostgreSQL side of scripts/bench_scale.py: fresh databases per run, and what each
partition's schema shows (progress, settledness, QAD attempts) read with psycopg."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scale_figures import proc_stat

CHECK_EVERY_S = 0.25


@contextlib.contextmanager
def databases(dsn: str | None, keep: bool) -> Iterator[Callable[[str], str]]:
    """``fresh(suffix)`` -> the URL of a new, empty database: on ``dsn``'s server (named after
    its database plus the suffix, dropped at the end unless ``keep``) or on a throwaway
    cluster (tests.pg_fixture, stopped at the end)."""
    import psycopg

    if not dsn:
        from tests.pg_fixture import start_cluster

        cluster = start_cluster()
        try:
            yield lambda _suffix: cluster.new_database()
        finally:
            cluster.stop()
        return
    made: list[str] = []
    parts = urlsplit(dsn)
    base = parts.path.strip("/") or "postgres"

    def fresh(suffix: str) -> str:
        name = f"{base}_{suffix}"
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')  # refused if it exists: never reused
        except psycopg.Error as exc:  # its text never holds the DSN's password
            raise RuntimeError(f"cannot create database {name}: {exc}".strip()) from None
        made.append(name)
        return urlunsplit(parts._replace(path=f"/{name}"))

    try:
        yield fresh
    finally:
        if not keep and made:
            with psycopg.connect(dsn, autocommit=True) as conn:
                for name in made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_pid(url: str) -> int | None:
    """The postmaster's pid of the server behind ``url`` when it runs on this machine (the
    parent of our backend), else None."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        f = proc_stat(int(row[0])) if row else []  # while the backend lives
    return int(f[1]) if f else None


def expected_counts(sqlite_log: Path) -> dict[str, int]:
    """A reference log's records: distinct keys per stream, and ``#commands``."""
    db = sqlite3.connect(f"file:{sqlite_log}?mode=ro", uri=True)
    try:
        counts = dict(db.execute("SELECT stream, count(DISTINCT key) FROM events GROUP BY 1"))
        counts["#commands"] = db.execute("SELECT count(*) FROM commands").fetchone()[0]
    finally:
        db.close()
    return counts


@dataclass(frozen=True)
class PartitionState:
    """What one partition's schema shows now."""

    streams: dict[str, int]  # stream -> distinct keys
    commands: int
    open: int
    head: int

    @property
    def orders(self) -> int:
        return self.streams.get("amazon.orders", 0)

    def fetched(self, expected: dict[str, int], orders: int) -> bool:
        """All orders fetched and every stream holding at least the reference's records."""
        have = all(self.streams.get(s, 0) >= n for s, n in expected.items() if s != "#commands")
        return have and self.orders >= orders

    def settled(self, expected: dict[str, int], orders: int) -> bool:
        """Fetched, every command the reference made there, and none open."""
        return (
            self.fetched(expected, orders)
            and self.commands >= expected["#commands"]
            and self.open == 0
        )

    def picture(self) -> tuple[int, int, int]:
        return (self.head, self.commands, self.open)

    def progress(self, orders: int) -> str:
        return f"{self.orders}/{orders} orders, {self.commands} commands, {self.open} open"


def partition_state(conn: Any, schema: str) -> PartitionState:
    """``conn``: a psycopg connection (autocommit). A schema not made yet reads as empty."""
    made = conn.execute("SELECT to_regclass(%s)", (f"{schema}.open_commands",)).fetchone()
    if not made or made[0] is None:
        return PartitionState({}, 0, 0, 0)
    streams = dict(
        conn.execute(f"SELECT stream, count(DISTINCT key) FROM {schema}.events GROUP BY 1")
    )
    row = conn.execute(
        f"SELECT (SELECT count(*) FROM {schema}.commands),"
        f" (SELECT count(*) FROM {schema}.open_commands),"
        f" (SELECT position FROM {schema}.log_head)"
    ).fetchone()
    return PartitionState(streams, int(row[0]), int(row[1]), int(row[2]))


def qad_rate_use(url: str, partitions: int, rate: float, burst: int) -> dict[str, Any]:
    """QAD attempts per partition and how full the tenant's bucket ran while they were sent:
    (attempts - burst) / rate is the least time the bucket allows for them; over the span
    from the first attempt to the last, 1.0 means every token was taken as it refilled."""
    import psycopg

    attempts: list[int] = []
    uses: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(partitions):
            schema = f"mlc_p_s{i}"
            row = conn.execute(
                f"SELECT count(*), min(a.at), max(a.at) FROM {schema}.attempts a"
                f" JOIN {schema}.commands c USING (command_id) WHERE c.target = 'qad'"
            ).fetchone() or (0, None, None)
            n, first, last = int(row[0]), row[1], row[2]
            attempts.append(n)
            if rate > 0 and n > burst:
                span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
                uses.append(min(1.0, (n - burst) / rate / max(span.total_seconds(), 1e-3)))
    return {
        "qad_attempts": attempts,
        "qad_rate_use": round(sum(uses) / len(uses), 2) if uses else 0.0,
    }


@dataclass(frozen=True)
class Timeline:
    """Seconds from the workers' start: settled (confirmed by the next check), the first
    order in every partition's log, and every record of every partition fetched."""

    settled_s: float
    first_order_s: float
    fetched_s: float


def wait_settled(
    url: str,
    expected: list[dict[str, int]],
    orders: int,
    workers: list[subprocess.Popen[str]],
    say: Callable[[str], None],
    t0: float,
    timeout_s: float,
) -> Timeline:
    """Check every partition each CHECK_EVERY_S until all are settled, the same twice."""
    import psycopg

    first_order = fetched = 0.0
    last: tuple[Any, ...] | None = None
    settled_at = 0.0
    said = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            now = time.monotonic()
            states = [partition_state(conn, f"mlc_p_s{i}") for i in range(len(expected))]
            progress = "; ".join(f"s{i} {s.progress(orders)}" for i, s in enumerate(states))
            if now - t0 > timeout_s:
                raise RuntimeError(f"partitions not settled in {timeout_s:.0f} s: {progress}")
            dead = [w.pid for w in workers if w.poll() is not None]
            if dead:
                raise RuntimeError(f"worker(s) {dead} exited during the run (see worker-*.log)")
            pairs = list(zip(states, expected, strict=True))
            if not first_order and all(s.orders for s in states):
                first_order = now - t0
            if not fetched and all(s.fetched(e, orders) for s, e in pairs):
                fetched = now - t0
            done = all(s.settled(e, orders) for s, e in pairs)
            picture = tuple(s.picture() for s in states)
            if done and picture == last:
                return Timeline(settled_at - t0, first_order, fetched)
            last, settled_at = (picture if done else None), now
            if now - said > 5:
                said = now
                say("  " + progress)
            time.sleep(CHECK_EVERY_S)
