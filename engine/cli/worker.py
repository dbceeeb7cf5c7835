"""``ml-connector run --worker``: one of several processes sharing a PostgreSQL deployment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from engine.cli._engine import vault_from
from engine.cli._logging import console
from engine.config import Config, load_config
from engine.errors import ConfigError
from engine.ops import session
from engine.ops.worker import Worker

__all__ = ["add_worker_arguments", "run_worker"]

log = logging.getLogger("engine.cli.worker")


def add_worker_arguments(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group(
        "workers (PostgreSQL)",
        "Several `run --worker` processes, on one machine or many, share one PostgreSQL "
        "deployment: each polls the partitions it holds a lease on (one poller per partition, "
        "taken over within --lease seconds after a crash) and all of them post every "
        "partition's commands, each command once, under QAD rate limits shared by all.",
    )
    group.add_argument(
        "--worker", action="store_true", help="run as one of several workers (see above)"
    )
    group.add_argument(
        "--partitions",
        metavar="DIR",
        help="folder with one config file (*.toml) per partition, i.e. per (seller, region), "
        "each naming the same [engine] db and its own [engine] partition (default: --config "
        "alone)",
    )
    group.add_argument(
        "--lease",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a partition stays leased without renewal (default 30; renewed every "
        "third): a crashed worker's partitions are polled again after at most this long",
    )


def _configs(args: argparse.Namespace) -> list[Config]:
    if not args.partitions:
        return [load_config(args.config)]
    folder = Path(args.partitions)
    if not folder.is_dir():
        raise ConfigError(f"--partitions {folder} is not a folder of partition configs")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ConfigError(f"--partitions {folder} holds no *.toml partition config")
    return [load_config(path) for path in files]


def _no_reload() -> None:
    log.warning(
        "SIGHUP ignored: run --worker has no reload; restart the worker to read changed "
        "partition configs (its partitions are taken over meanwhile)"
    )


def run_worker(args: argparse.Namespace) -> int:
    if not 3.0 <= args.lease <= 3600.0:
        raise ConfigError(f"--lease must be between 3 and 3600 seconds, got {args.lease:g}")
    configs = _configs(args)

    async def main() -> Worker:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # SIGHUP would end the process undrained by default; a worker has no reload.
        loop.add_signal_handler(signal.SIGHUP, _no_reload)

        def started(worker: Worker) -> None:
            console(
                f"worker {worker.worker_id} running {len(worker.engines)} partition(s): "
                f"{', '.join(sorted(worker.engines))}; Ctrl-C or SIGTERM stops",
                stream=sys.stdout,
            )

        return await session.run_worker(
            configs,
            vault_path=vault_from(args),
            stop=stop,
            lease_s=args.lease,
            drain_s=args.drain,
            started=started,
        )

    worker = asyncio.run(main())
    stats = worker.stats
    console(
        f"worker stopped cleanly: {stats.leases_taken} lease(s) taken, {stats.leases_lost} lost, "
        f"{stats.leases_given_back} given back",
        stream=sys.stdout,
    )
    return 0
