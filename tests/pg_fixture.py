"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl in a temp dir, one per process.

Each pytest-xdist worker starts its own cluster on a free loopback port (a few seconds, once),
and every test gets its own database in it. PostgreSQL refuses to run as root, so under root
(CI containers) the cluster runs as the ``postgres`` user (Debian's package creates it) or
``nobody``, through ``runuser``. Where no server can start (no binaries, no such user), the
PostgreSQL variants skip with the reason. ``ML_CONNECTOR_TEST_PG_DSN`` points the tests at an
existing server instead (a role allowed to CREATE DATABASE).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PgCluster", "start_cluster"]

_counter = itertools.count(1)


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """A running cluster (or an external server): hands out fresh databases."""

    def __init__(self, admin_dsn: str, base: Path | None, run_as: list[str], bindir: Path | None):
        self.admin_dsn = admin_dsn
        self.base = base
        self._run_as = run_as
        self._bindir = bindir

    def dsn(self, dbname: str) -> str:
        return self.admin_dsn.rsplit("/", 1)[0] + "/" + dbname

    def new_database(self) -> str:
        """A fresh, empty database; its DSN."""
        import psycopg

        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            # FILE_COPY (15+) is the cheaper one with fsync off: its checkpoint writes nothing.
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0{strategy}")
        return self.dsn(name)

    def stop(self) -> None:
        if self.base is None or self._bindir is None:
            return
        subprocess.run(
            [
                *self._run_as,
                str(self._bindir / "pg_ctl"),
                "-D",
                str(self.base / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def _run_as_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", user, "--"]
    raise RuntimeError(
        "running as root and no 'postgres'/'nobody' user with runuser to own the cluster"
    )


def start_cluster() -> PgCluster:
    """Start a cluster, or raise RuntimeError with the reason it cannot."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("psycopg is not installed (pip install -e '.[postgresql]')") from exc
    external = os.environ.get("ML_CONNECTOR_TEST_PG_DSN")
    if external:
        return PgCluster(external, None, [], None)
    bindir = _binaries()
    if bindir is None:
        raise RuntimeError(
            "no PostgreSQL server binaries (initdb/pg_ctl) on PATH or under "
            "/usr/lib/postgresql/*/bin (apt-get install postgresql)"
        )
    run_as = _run_as_prefix()
    base = Path(tempfile.mkdtemp(prefix="mlc-pg-"))
    if run_as:
        shutil.chown(base, user=run_as[2])
    port = _free_port()
    data = base / "data"
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    steps = [
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "mlc",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
    ]
    for step in steps:
        proc = subprocess.run([*run_as, *step], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            log = base / "server.log"
            tail = log.read_text()[-800:] if log.exists() else ""
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(
                f"{Path(step[0]).name} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-800:]} {tail}"
            )
    return PgCluster(f"postgresql://mlc@127.0.0.1:{port}/postgres", base, run_as, bindir)
