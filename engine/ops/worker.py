"""``run --worker``: one of several processes sharing a PostgreSQL deployment of partitions.

Every worker opens every partition it is given (one config per (seller, region), each with its
own schema, credentials, pollers, watermarks and QAD entity) and then:

- dispatches every partition's due commands all the time: commands are claimed row by row
  (engine.dispatch.claims) and QAD's rate is one bucket shared by all workers
  (engine.dispatch.shared_limits), so K workers post K times as fast until QAD's limit binds;
- polls and projects only the partitions it holds a lease on (engine.ops.leases): one poller
  per partition at a time, renewed every third of ``lease_s``, taken over by another worker
  within ``lease_s`` of a crash, and at most a fair share per worker, so a worker started later
  gets partitions from the others without a restart.

A stop (SIGTERM) ends the flows, drains in-flight posts (recorded as unknown past the
deadline, then looked up by whoever posts them next) and gives the leases back at once.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from engine.config import Config
from engine.config.database import is_postgresql_url, partition_namespace, split_partition
from engine.errors import ConfigError, StoreError
from engine.ops.engine import Engine
from engine.ops.leases import LeaseTable, fair_share, new_worker_id
from engine.ops.scheduler import run_flows

__all__ = ["PartitionFlows", "Worker", "WorkerStats", "check_partitions", "partition_label"]

log = logging.getLogger(__name__)


def check_partitions(configs: Mapping[str, Config]) -> None:
    """Refuse, before anything opens, a set of configs that cannot share one deployment.

    ``configs`` maps each config's source to it. Every one must name the same PostgreSQL
    database, and partitions must be distinct (two configs writing one partition's schema
    would mix two sellers' records in one log).
    """
    if not configs:
        raise ConfigError("run --worker: no partition config given (--config or --partitions)")
    databases = {split_partition(cfg.engine.db)[0] for cfg in configs.values()}
    for source, cfg in sorted(configs.items()):
        if not is_postgresql_url(cfg.engine.db):
            raise ConfigError(
                f"{source}: run --worker needs [engine] db to be a PostgreSQL URL (several "
                "workers cannot share an SQLite file); use `ml-connector run` for one process"
            )
    if len(databases) > 1:
        raise ConfigError(
            "run --worker: the partition configs name different databases; one deployment "
            "shares one PostgreSQL database (one [engine] db for every partition)"
        )
    seen: dict[str, str] = {}
    for source, cfg in sorted(configs.items()):
        name = split_partition(cfg.engine.db)[1] or cfg.engine.partition
        if name in seen:
            shown = repr(name) if name else "the default (no [engine] partition)"
            raise ConfigError(
                f"{source} and {seen[name]} are both partition {shown}: give each "
                "(seller, region) its own [engine] partition"
            )
        seen[name] = source
        if not name and len(configs) > 1:
            raise ConfigError(
                f"{source} has no [engine] partition but shares the database with other "
                "configs: name every partition"
            )


def partition_label(cfg: Config) -> str:
    return partition_namespace(cfg.engine.db, cfg.engine.partition) or "default"


class PartitionFlows:
    """The scheduler's view of one partition's engine whose flows end with its lease."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.cfg = eng.cfg
        self.pollers = eng.pollers
        self.health = eng.health
        self.dispatcher = eng.dispatcher
        self.followed_clock = eng.followed_clock
        self._stop = asyncio.Event()

    @property
    def stop_event(self) -> asyncio.Event:
        return self._stop

    def poll(self, names: list[str] | None = None) -> Awaitable[Any]:
        return self.eng.poll(names)

    async def project_and_dispatch(self) -> None:
        # Only projection here: the worker's dispatch loop posts every partition's commands.
        await self.eng.runner.run_once()

    async def guarded(self, aw: Awaitable[Any], what: str) -> None:
        await self.eng.guarded(aw, what)


@dataclass(slots=True)
class WorkerStats:
    """What this worker did, for logs, tests and the scale bench."""

    leases_taken: int = 0
    leases_lost: int = 0
    leases_given_back: int = 0
    held: set[str] = field(default_factory=set)


class Worker:
    """Runs the partitions of ``engines`` (partition name -> open engine) until ``stop``."""

    def __init__(
        self,
        engines: Mapping[str, Engine],
        *,
        worker_id: str | None = None,
        lease_s: float = 30.0,
        dispatch_every_s: float = 1.0,
        drain_s: float = 30.0,
    ) -> None:
        if not engines:
            raise ConfigError("run --worker: no partition to run")
        self.engines = dict(engines)
        self.worker_id = worker_id or new_worker_id()
        self.lease_s = lease_s
        self.dispatch_every_s = dispatch_every_s
        self.drain_s = drain_s
        self.stats = WorkerStats()
        first = next(iter(self.engines.values()))
        self.leases = LeaseTable(first.log, self.worker_id, lease_s)
        self._flows: dict[str, tuple[PartitionFlows, asyncio.Task[None]]] = {}
        self._renewed: dict[str, float] = {}
        # Each worker walks the partitions from its own offset, so workers starting together
        # do not all race for the same first partition.
        names = sorted(self.engines)
        offset = zlib.crc32(self.worker_id.encode()) % len(names)
        self._order = names[offset:] + names[:offset]

    async def run(self, stop: asyncio.Event) -> None:
        await self.leases.ensure()
        dispatchers = [
            asyncio.create_task(self._dispatch_loop(name, eng, stop))
            for name, eng in self.engines.items()
        ]
        try:
            while not stop.is_set():
                try:
                    await self._balance()
                except StoreError as exc:  # the database away: keep what is still in time
                    log.warning("worker %s: leases not renewed: %s", self.worker_id, exc)
                await self._drop_overdue()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.lease_s / 3)
        finally:
            held = sorted(self.stats.held)
            for name in list(self._flows):
                await self._stop_flows(name)
            await asyncio.gather(
                *(eng.dispatcher.drain(self.drain_s) for eng in self.engines.values())
            )
            for task in dispatchers:
                task.cancel()
            await asyncio.gather(*dispatchers, return_exceptions=True)
            with suppress(StoreError):
                await self.leases.leave(held)

    async def _balance(self) -> None:
        loop = asyncio.get_running_loop()
        live = await self.leases.heartbeat()
        share = fair_share(len(self.engines), live)
        for name in sorted(self.stats.held):
            if await self.leases.take(name) is None:
                log.warning("worker %s: lease of %s taken by another worker", self.worker_id, name)
                self.stats.leases_lost += 1
                await self._stop_flows(name)
            else:
                self._renewed[name] = loop.time()
        for name in self._order:
            if len(self.stats.held) >= share:
                break
            if name not in self.stats.held and await self.leases.take(name) is not None:
                self._renewed[name] = loop.time()
                self.stats.leases_taken += 1
                self._start_flows(name)
        while len(self.stats.held) > share:  # give back the excess to newer workers
            name = sorted(self.stats.held)[-1]
            await self._stop_flows(name)
            await self.leases.release(name)
            self.stats.leases_given_back += 1

    async def _drop_overdue(self) -> None:
        """Stop polling a partition whose lease we could not renew in time (it may be someone
        else's by now); it is taken again on the next successful round."""
        now = asyncio.get_running_loop().time()
        for name in sorted(self.stats.held):
            if now - self._renewed.get(name, now) > self.lease_s * 0.8:
                self.stats.leases_lost += 1
                await self._stop_flows(name)

    def _start_flows(self, name: str) -> None:
        flows = PartitionFlows(self.engines[name])
        task = asyncio.create_task(run_flows(flows, drain_s=None))
        self._flows[name] = (flows, task)
        self.stats.held.add(name)
        log.info("worker %s: polling partition %s", self.worker_id, name)

    async def _stop_flows(self, name: str) -> None:
        self.stats.held.discard(name)
        entry = self._flows.pop(name, None)
        if entry is None:
            return
        flows, task = entry
        flows.stop_event.set()
        with suppress(Exception):
            await task

    async def _dispatch_loop(self, name: str, eng: Engine, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await eng.guarded(eng.dispatcher.run_once(), "dispatch")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.dispatch_every_s)
