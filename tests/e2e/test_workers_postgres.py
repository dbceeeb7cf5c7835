"""``run --worker`` on PostgreSQL: two workers share two partitions (two sellers, each with its
own Amazon account and QAD entity, both logs in one database), every order reaches its own QAD
to the cent exactly once, and a crashed worker's partition is polled again by the other one.

Each partition's config carries it in ``[engine] db`` (``postgresql://.../db#alpha``), as a
loaded config does (engine.config.database.check_partition).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.config import Config
from engine.config.database import with_partition
from engine.errors import ConfigError
from engine.log.opening import open_event_log
from engine.ops.engine import Engine
from engine.ops.leases import LeaseTable
from engine.ops.status import collect_status
from engine.ops.worker import Worker, check_partitions
from engine.sim.amazon import AmazonSimulator
from engine.sim.qad import QadSimulator
from tests.e2e.conftest import World
from tests.e2e.test_sync import assert_orders_match

LEASE_S = 3.0


QUIET = timedelta(days=17)  # past the simulator's order lag: nothing changes while workers run


@asynccontextmanager
async def world(folder: Path, seed: int) -> AsyncIterator[World]:
    """A quiet business (scripts/crash_test.py's): every order placed on one day 18 days ago,
    so the books are final and "settled" cannot be overtaken by a new order, however slow the
    machine is."""
    folder.mkdir()
    start = datetime.now(UTC).replace(microsecond=0) - QUIET
    async with (
        AmazonSimulator(
            seed=seed, history_days=1, orders_per_day=0, total_orders=30, start=start,
            rate_limits=False, time_scale=10.0,
        ) as amazon,
        QadSimulator(folder / "qad.db", tenants=("clouderp",)) as qad,
    ):  # fmt: skip
        amazon.clock.advance(QUIET)
        yield World(amazon, qad, folder)


def partition_config(w: World, dsn: str, partition: str) -> Config:
    cfg = w.config()
    engine = dataclasses.replace(cfg.engine, db=with_partition(dsn, partition), partition=partition)
    poll = dataclasses.replace(cfg.poll, raw_dir=str(w.tmp / "raw"))
    return dataclasses.replace(cfg, engine=engine, poll=poll, source=f"{partition}.toml")


async def settled(dsn: str, namespace: str) -> tuple[int, bool]:
    """(head, whether orders were fetched and nothing is left to post)."""
    async with open_event_log(dsn, namespace=namespace, readonly=True) as log:
        head = await log.head()
        [(orders,)] = await log.query("SELECT count(*) FROM events WHERE stream = 'amazon.orders'")
        if orders < 25 or "open_commands" not in await log.tables():
            return head, False
        [(open_commands,)] = await log.query("SELECT count(*) FROM open_commands")
    return head, open_commands == 0


async def orders_of(dsn: str, namespace: str) -> dict[str, dict[str, Any]]:
    async with open_event_log(dsn, namespace=namespace, readonly=True) as log:
        return {e.key: e.payload async for e in log.read(streams=["amazon.orders"])}


async def wait_for(predicate: Any, timeout_s: float) -> None:
    end = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < end:
        if await predicate():
            return
        await asyncio.sleep(0.3)
    raise AssertionError("timed out waiting")


async def test_two_workers_share_two_partitions_and_survive_a_crash(pg_dsn, tmp_path) -> None:
    async with world(tmp_path / "a", 3) as wa, world(tmp_path / "b", 4) as wb:
        cfgs = {
            "alpha": partition_config(wa, pg_dsn, "alpha"),
            "beta": partition_config(wb, pg_dsn, "beta"),
        }
        worlds = {"alpha": wa, "beta": wb}
        polls: dict[tuple[str, str], int] = {}
        async with AsyncExitStack() as stack:

            async def engines(worker: str) -> dict[str, Engine]:
                out = {}
                for name, cfg in cfgs.items():
                    eng = await stack.enter_async_context(worlds[name].engine(cfg))
                    original = eng.poll

                    async def counted(
                        *a: Any, _o: Any = original, _k: Any = (worker, name), **kw: Any
                    ) -> Any:
                        polls[_k] = polls.get(_k, 0) + 1
                        return await _o(*a, **kw)

                    eng.poll = counted  # type: ignore[method-assign]
                    out[f"mlc_p_{name}"] = eng
                return out

            one = Worker(
                await engines("w1"),
                worker_id="w1",
                lease_s=LEASE_S,
                dispatch_every_s=0.2,
                drain_s=5,
            )
            two = Worker(
                await engines("w2"),
                worker_id="w2",
                lease_s=LEASE_S,
                dispatch_every_s=0.2,
                drain_s=5,
            )
            stop_one, stop_two = asyncio.Event(), asyncio.Event()
            task_one = asyncio.create_task(one.run(stop_one))
            task_two = asyncio.create_task(two.run(stop_two))

            last: list[tuple[int, bool]] = []

            async def both_settled() -> bool:
                # Settled twice in a row with no new event between: polled, projected, posted.
                now = [await settled(pg_dsn, f"mlc_p_{n}") for n in cfgs]
                stable = now == last and all(done for _, done in now)
                last[:] = now
                return stable

            await wait_for(both_settled, 240)
            # Each worker holds its fair share: one partition each, as `status` shows.
            assert len(one.stats.held) == 1 and len(two.stats.held) == 1
            async with open_event_log(cfgs["alpha"].engine.db, readonly=True) as log:
                leases = (await collect_status(log))["leases"]
            assert {(x["partition"], x["worker"], x["live"]) for x in leases} == {
                (next(iter(one.stats.held)), "w1", True),
                (next(iter(two.stats.held)), "w2", True),
            }
            for name, w in worlds.items():
                assert_orders_match(w, await orders_of(pg_dsn, f"mlc_p_{name}"))
            # Two sellers never mix: each QAD holds only its own seller's orders.
            assert not set(await orders_of(pg_dsn, "mlc_p_alpha")) & set(
                await orders_of(pg_dsn, "mlc_p_beta")
            )

            # "Crash" worker one: its tasks end without giving its lease back.
            (lost,) = one.stats.held
            one.leases.leave = _no_leave  # type: ignore[method-assign]
            task_one.cancel()
            await asyncio.gather(task_one, return_exceptions=True)
            before = polls.get(("w2", lost.removeprefix("mlc_p_")), 0)
            await wait_for(lambda: _holds(two, lost), LEASE_S * 4)
            await wait_for(
                lambda: _polled(polls, ("w2", lost.removeprefix("mlc_p_")), before), LEASE_S * 4
            )
            holders = {h.partition: h for h in await LeaseTable(two.leases.log, "x", 1).holders()}
            assert holders[lost].holder == "w2" and holders[lost].generation == 2
            stop_two.set()
            await task_two
            assert two.stats.held == set()
            assert await LeaseTable(two.leases.log, "x", 1).holders() == []  # given back on stop
        for name, w in worlds.items():
            assert_orders_match(w, await orders_of(pg_dsn, f"mlc_p_{name}"))


async def _no_leave(_partitions: Any) -> None:
    return None


async def _holds(worker: Worker, partition: str) -> bool:
    return partition in worker.stats.held


async def _polled(polls: dict[tuple[str, str], int], key: tuple[str, str], before: int) -> bool:
    return polls.get(key, 0) > before


def test_partition_configs_that_cannot_share_a_deployment_are_refused(tmp_path: Path) -> None:
    from engine.ops.demo import simulator_config

    base = simulator_config(tmp_path / "x.db", amazon_base="http://x", lwa_url="", qad_url="")

    def on(db: str, partition: str) -> Config:
        engine = dataclasses.replace(base.engine, partition="")
        object.__setattr__(engine, "db", db)
        object.__setattr__(engine, "partition", partition)
        return dataclasses.replace(base, engine=engine)

    with pytest.raises(ConfigError, match="needs \\[engine\\] db to be a PostgreSQL URL"):
        check_partitions({"a.toml": base})
    with pytest.raises(ConfigError, match="name different databases"):
        check_partitions(
            {"a.toml": on("postgresql://h/one", "a"), "b.toml": on("postgresql://h/two", "b")}
        )
    with pytest.raises(ConfigError, match="are both partition 'a'"):
        check_partitions(
            {"a.toml": on("postgresql://h/one", "a"), "b.toml": on("postgresql://h/one", "a")}
        )
    with pytest.raises(ConfigError, match="has no \\[engine\\] partition"):
        check_partitions(
            {"a.toml": on("postgresql://h/one", ""), "b.toml": on("postgresql://h/one", "b")}
        )
    check_partitions(
        {"a.toml": on("postgresql://h/one", "a"), "b.toml": on("postgresql://h/one", "b")}
    )
