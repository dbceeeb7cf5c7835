"""The engine: opens every resource once, wires pollers -> log -> projectors -> dispatcher.

``Engine.open`` builds one aiohttp session, one SP-API client per region (its own LWA token and
buckets), the QAD client, the PII sealer, the outbox, the projection runner and the dispatcher,
and closes them in reverse order. ``sync_once`` is one catch-up pass; ``run_forever`` the
scheduler of ``ml-connector run`` (cadences from config, graceful drain on stop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiohttp

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.listings import ListingsAdapter
from engine.adapters.amazon.ratelimit import BucketRegistry
from engine.adapters.amazon.regions import region_of
from engine.adapters.amazon.sim_clock import SimulatorClock
from engine.adapters.qad.client import QadClient
from engine.adapters.qad.settings import QadSettings
from engine.commands.outbox import Outbox
from engine.config import Config
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.handlers import qad_handlers
from engine.dispatch.limits import LimiterRegistry
from engine.dispatch.listing_handlers import listing_handlers
from engine.errors import ConfigError, FatalRemoteError, RetriableRemoteError
from engine.log.sqlite import SQLiteEventLog
from engine.ops.flow_health import FlowHealth
from engine.pollers.base import PollResult
from engine.pollers.inventory import FbaInventoryPoller, MfnInventoryPoller
from engine.pollers.orders import OrdersPollConfig, OrdersPoller
from engine.pollers.qad_items import QadItemsPoller
from engine.pollers.settlements import SettlementsPollConfig, SettlementsPoller
from engine.projectors.catalog import CatalogProjector
from engine.projectors.inventory import InventoryProjector, fba_sources
from engine.projectors.mapping import Mapper
from engine.projectors.order_money import MoneyRules
from engine.projectors.orders import OrdersProjector
from engine.projectors.runner import ProjectionRunner
from engine.projectors.settlements import SettlementsProjector
from engine.security.pii import PiiSealer

__all__ = ["Engine", "SyncReport", "amazon_clients", "build_projectors"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Progress = Callable[[str], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class SyncReport:
    """What one ``sync_once`` pass did."""

    polled: dict[str, PollResult] = field(default_factory=dict)
    poll_errors: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # flows refused (auth/role/request)
    refused_roles: dict[str, str] = field(default_factory=dict)  # 403: the role probably missing
    projected: int = 0
    dispatched: dict[str, int] = field(default_factory=dict)
    # Everything that needs a human after the pass: parked commands + open record parks
    # (``Outbox.needs_attention``), old and new alike; set at the end of ``sync_once``.
    parked_total: int = 0


def build_projectors(cfg: Config) -> list[Any]:
    """The projectors for a configuration (also used by ``rebuild``)."""
    mapper = Mapper(cfg.mapping)
    regions = {mp: region_of(mp) for mp in cfg.amazon.marketplaces}
    return [
        OrdersProjector(mapper, MoneyRules.of(cfg.orders)),
        SettlementsProjector(mapper),
        InventoryProjector(
            mapper,
            cfg.inventory.mfn_mode,
            cfg.inventory.fba_mode,
            cfg.inventory.realign_every_s,
            absent_after=cfg.inventory.absent_after_snapshots,
            fba_sources=fba_sources(cfg.amazon.marketplaces, cfg.mapping),
        ),
        CatalogProjector(mapper, cfg.amazon.listing_marketplaces, regions),
    ]


def amazon_clients(
    cfg: Config,
    session: aiohttp.ClientSession,
    account: AmazonAccount,
    *,
    clock: Clock | None = None,
    rate_limits: bool = True,
    time_scale: float = 1.0,
) -> dict[str, AmazonClient]:
    """One SP-API client per region of ``amazon.marketplaces`` (sorted), sharing one bucket
    registry; also used by ``replay --config`` to post parked listing patches.

    ``time_scale``: a time-scaled simulator refills its usage plans that much faster."""
    buckets = (
        BucketRegistry(time_scale=time_scale) if rate_limits else BucketRegistry(enabled=False)
    )
    clients: dict[str, AmazonClient] = {}
    for region in sorted({region_of(mp) for mp in cfg.amazon.marketplaces}):
        if region not in account.refresh_tokens:
            raise ConfigError(
                f"amazon.marketplaces include region {region} but the Amazon "
                f"credential has no refresh token for it (creds set amazon --region)"
            )
        clients[region] = AmazonClient(
            session,
            account,
            region,
            endpoint=_endpoint(cfg, region),
            lwa_url=cfg.amazon.lwa_url,
            clock=clock or _utc_now,
            limits=buckets,
            timeout_s=cfg.amazon.request_timeout_s,
        )
    return clients


class Engine:
    """Everything one sync process needs, opened once."""

    def __init__(self, cfg: Config, stack: AsyncExitStack) -> None:
        self.cfg = cfg
        self._stack = stack
        self.log: SQLiteEventLog
        self.outbox: Outbox
        self.runner: ProjectionRunner
        self.dispatcher: Dispatcher
        self.qad: QadClient
        self.amazon: dict[str, AmazonClient] = {}
        self.pollers: dict[str, Any] = {}
        self.health: FlowHealth
        self._stop = asyncio.Event()
        self._heavy = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        # [amazon] clock = "simulator": the time-scaled simulator's clock, re-read every pass.
        self.followed_clock: SimulatorClock | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        cfg: Config,
        *,
        amazon_account: AmazonAccount,
        qad_settings: QadSettings,
        master_key: bytes,
        amazon_clock: Clock | None = None,
        amazon_rate_limits: bool = True,
        raw_dir: Path | None = None,
    ) -> AsyncIterator[Self]:
        async with AsyncExitStack() as stack:
            eng = cls(cfg, stack)
            eng.log = await stack.enter_async_context(
                SQLiteEventLog.open(cfg.engine.db, synchronous=cfg.engine.synchronous)
            )
            eng.outbox = Outbox(eng.log)
            eng.health = FlowHealth(eng.log, cfg.poll.refused_retry_s)
            await eng.outbox.ensure()
            sealer = PiiSealer.from_log(eng.log, master_key)
            await sealer.ensure_schema()
            session = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=cfg.dispatch.timeout_s))
            )
            eng._session = session
            eng.qad = QadClient(session, qad_settings)
            await eng.qad.start()
            scale = 1.0
            if amazon_clock is None and cfg.amazon.clock == "simulator":
                eng.followed_clock = SimulatorClock.for_endpoint(cfg.amazon.endpoint)
                await eng.followed_clock.sync(session)
                amazon_clock, scale = eng.followed_clock, eng.followed_clock.time_scale
            eng.amazon = amazon_clients(
                cfg,
                session,
                amazon_account,
                clock=amazon_clock,
                rate_limits=amazon_rate_limits,
                time_scale=scale,
            )
            raw = raw_dir or Path(cfg.poll.raw_dir or Path(cfg.engine.db).parent / "raw")
            for region, client in eng.amazon.items():
                mps = tuple(m for m in cfg.amazon.marketplaces if region_of(m) == region)
                orders_cfg = OrdersPollConfig.from_poll(
                    cfg.poll, mps, cfg.amazon.orders_api, ship_to=cfg.orders.ship_to
                )
                eng.pollers[f"orders:{region}"] = OrdersPoller(client, eng.log, orders_cfg, sealer)
                stl_cfg = SettlementsPollConfig.from_poll(cfg.poll, raw, cfg.mapping.marketplaces)
                eng.pollers[f"settlements:{region}"] = SettlementsPoller(client, eng.log, stl_cfg)
                inv_mps = tuple(
                    m for m in mps if (mm := cfg.mapping.marketplaces.get(m)) and mm.fba_site
                )
                if inv_mps:
                    eng.pollers[f"fba:{region}"] = FbaInventoryPoller(
                        client, eng.log, inv_mps, basis=cfg.inventory.fba_quantity
                    )
                mfn_mps = tuple(
                    m for m in mps if (mm := cfg.mapping.marketplaces.get(m)) and mm.warehouse_site
                )
                if mfn_mps:
                    eng.pollers[f"mfn:{region}"] = MfnInventoryPoller(
                        client,
                        eng.log,
                        mfn_mps,
                        raw_dir=raw,
                        min_interval_s=cfg.inventory.mfn_report_min_interval_s,
                    )
            eng.pollers["qad.items"] = QadItemsPoller(
                eng.qad, eng.log, set(cfg.mapping.sku.values())
            )
            eng.runner = ProjectionRunner(eng.log, eng.outbox, build_projectors(cfg))
            handlers = {
                **qad_handlers(eng.qad, sealer=sealer),
                # Patches return on ACCEPTED; their read-back is a later outbox command.
                **listing_handlers(
                    ListingsAdapter(eng.amazon, cfg.listings), eng.outbox.get, cfg.listings
                ),
            }
            eng.dispatcher = Dispatcher(
                eng.log,
                eng.outbox,
                handlers,
                LimiterRegistry.from_config(cfg.dispatch),
                cfg.dispatch,
            )
            yield eng

    async def poll(
        self, names: list[str] | None = None, progress: Progress | None = None
    ) -> SyncReport:
        """Run the chosen pollers (all by default) concurrently; one failing flow stops no other.

        Retriable failures and refusals (403 role, revoked grant, 4xx) are recorded per flow;
        only an error outside the remote systems (the event log, a bug) ends the pass.
        """
        report = SyncReport()
        if self.followed_clock is not None and self._session is not None:
            await self.followed_clock.sync(self._session)  # picks up jumps of the sim's clock
        chosen = {  # by flow ("orders") or by poller ("orders:NA")
            n: p
            for n, p in self.pollers.items()
            if names is None or n.split(":")[0] in names or n in names
        }

        async def one(name: str, poller: Any) -> None:
            try:
                if getattr(poller, "heavy", False):  # memory-bound pollers run one at a time
                    async with self._heavy:
                        report.polled[name] = await poller.poll_once()
                else:
                    report.polled[name] = await poller.poll_once()
                await self.health.ok(name)
                if progress:
                    r = report.polled[name]
                    progress(f"polled {name}: {r.fetched} fetched, {r.appended} new")
            except RetriableRemoteError as exc:
                report.poll_errors[name] = f"{type(exc).__name__}: {exc}"
                log.warning("poll %s failed (will retry next cycle): %s", name, exc)
            except FatalRemoteError as exc:
                # A refused role or a revoked grant concerns this flow (or this region's flows,
                # each of which records it); the other flows of the pass go on. The flow is
                # tried again next cycle, so adding the role later heals it without a restart.
                report.poll_errors[name] = f"{type(exc).__name__}: {exc}"
                report.refused[name] = str(exc)
                await self.health.refused(name, exc)  # logs once per change, shown in status
                if role := self.health.states[name].role:
                    report.refused_roles[name] = role

        tasks = [asyncio.create_task(one(n, p)) for n, p in chosen.items()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # Anything else (the log failing, a bug) ends the pass: stop the sibling pollers
            # before the caller closes the sessions underneath them.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return report

    async def sync_once(
        self, progress: Progress | None = None, dispatch_timeout_s: float = 600.0
    ) -> SyncReport:
        """Poll everything once, project, dispatch until nothing is due (``sync --once``)."""
        report = await self.poll(progress=progress)
        report.projected = await self.runner.run_once()
        if progress:
            progress(f"projected {report.projected} events")
        counts = await self.dispatcher.run_until_idle(dispatch_timeout_s)
        report.dispatched = {k: v for k, v in counts.as_dict().items() if v}
        if progress:
            progress(f"dispatched {report.dispatched or 'nothing'}")
        report.parked_total = await self.outbox.needs_attention()
        return report

    async def project_and_dispatch(self, dispatch_timeout_s: float = 60.0) -> None:
        await self.runner.run_once()
        await self.dispatcher.run_until_idle(dispatch_timeout_s)

    def stop(self) -> None:
        """Ask ``run_forever`` to stop polling and drain (signal handlers call this)."""
        self._stop.set()

    async def run_forever(self, drain_s: float = 30.0) -> None:
        """The scheduler: each flow on its cadence; projection+dispatch after every poll."""
        poll = self.cfg.poll
        cadence = {
            "orders": poll.orders_every_s,
            "settlements": poll.settlements_every_s,
            "fba": poll.inventory_every_s,
            "mfn": poll.inventory_every_s,
            "qad.items": poll.catalog_every_s,
        }
        work = asyncio.Lock()

        async def flow(name: str) -> None:
            # One task per poller (flow and region): a refused region waits refused_retry_s,
            # the same flow in another region keeps its own cadence.
            every = cadence[name.split(":")[0]]
            while not self._stop.is_set():
                await self._guarded(self.poll([name]), name)
                async with work:
                    await self._guarded(self.project_and_dispatch(), "dispatch")
                state = self.health.states.get(name)
                wait = poll.refused_retry_s if state and state.state == "refused" else every
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=wait)

        flows = sorted(self.pollers)
        tasks = [asyncio.create_task(flow(n)) for n in flows]
        await self._stop.wait()
        await self.dispatcher.drain(drain_s)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guarded(self, aw: Awaitable[Any], what: str) -> None:
        """Never lets a flow's task die silently: anything but a stop is logged (once per
        reason) and recorded for ``status``; the flow runs again next cycle."""
        try:
            await aw
            if what == "dispatch":
                await self.health.ok(what)
        except RetriableRemoteError as exc:
            log.warning("%s: %s (retrying next cycle)", what, exc)
        except FatalRemoteError as exc:  # dispatch: a refusal outside one command
            await self.health.refused(what, exc)
        except Exception as exc:  # a bug, the store: logged with its traceback once
            await self.health.failed(what, exc)


def _endpoint(cfg: Config, region: str) -> str | None:
    """``[amazon] endpoint`` may hold one URL, or ``{region}`` to fill in (e.g. the simulator)."""
    ep = cfg.amazon.endpoint
    if not ep:
        return None
    return ep.replace("{region}", region.lower())


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
    """Poll ``predicate`` until true or timeout (used by the demo and tests)."""
    end = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < end:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False
