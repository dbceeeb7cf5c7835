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
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiohttp

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.listings import ListingsAdapter
from engine.adapters.amazon.sim_clock import SimulatorClock
from engine.adapters.qad.client import QadClient
from engine.adapters.qad.settings import QadSettings
from engine.commands.outbox import Outbox
from engine.config import Config
from engine.config.database import is_postgresql_url
from engine.dispatch.claims import claims_for
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.freshness import SCHEMA as FRESHNESS_SCHEMA
from engine.dispatch.freshness import FreshnessRecorder
from engine.dispatch.handlers import qad_handlers
from engine.dispatch.limits import LimiterRegistry
from engine.dispatch.listing_handlers import listing_handlers
from engine.dispatch.shared_limits import SharedBuckets
from engine.errors import ConfigError, CredentialError, FatalRemoteError, RetriableRemoteError
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.alerts import AlertSecrets, watch_alerts
from engine.ops.flow_health import FlowHealth
from engine.ops.metrics import Metrics
from engine.ops.overlap import sync_overlapped
from engine.ops.scheduler import run_flows
from engine.ops.wiring import amazon_clients, build_pollers, build_projectors
from engine.pollers.base import PollResult
from engine.pollers.notifications import notifications_consumer
from engine.projectors.runner import ProjectionRunner
from engine.security.credentials import AwsCredential
from engine.security.log_context import log_context_for, poller_fields
from engine.security.pii import PiiSealer

__all__ = ["Engine", "SyncReport", "amazon_clients", "build_projectors"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Progress = Callable[[str], None]


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


def _raw_dir(cfg: Config) -> Path:
    """Where raw report downloads go: ``[poll] raw_dir``, else beside an SQLite log file; a
    PostgreSQL log has no folder of its own, so there it must be configured."""
    if cfg.poll.raw_dir:
        return Path(cfg.poll.raw_dir)
    if is_postgresql_url(cfg.engine.db):
        raise ConfigError(
            "[poll] raw_dir must be set when [engine] db is a PostgreSQL URL (report downloads "
            'are files on this machine, e.g. raw_dir = "/var/lib/ml-connector/raw")'
        )
    return Path(cfg.engine.db).parent / "raw"


async def _limiters(
    log: EventLog, cfg: Config, qad: QadSettings, account: AmazonAccount
) -> LimiterRegistry:
    """In-process buckets, or on PostgreSQL buckets every worker shares: one per QAD tenant
    (partitions posting to one tenant draw from one) and one per seller's listings."""
    if log.capabilities.backend != "postgresql":
        return LimiterRegistry.from_config(cfg.dispatch)
    buckets = SharedBuckets(log)
    await buckets.ensure()
    names = {"qad": f"qad {qad.tenant_url}", "amazon.listings": f"listings {account.seller_id}"}
    return LimiterRegistry.from_config(cfg.dispatch, shared=buckets, shared_names=names)


def _wall_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    """Everything one sync process needs, opened once."""

    def __init__(self, cfg: Config, stack: AsyncExitStack) -> None:
        self.cfg = cfg
        self._stack = stack
        self.log: EventLog
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
        # Prometheus metrics of this engine (own registry): fed by the clients and dispatcher.
        self.metrics = Metrics(cfg.poll)
        self.alert_secrets = AlertSecrets()  # [alerts] secrets from the vault (ops.session)

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
        aws_credential: AwsCredential | None = None,
    ) -> AsyncIterator[Self]:
        async with AsyncExitStack() as stack:
            eng = cls(cfg, stack)
            eng.log = await stack.enter_async_context(
                # A partition's db carries it (#partition, engine.config.database).
                open_event_log(cfg.engine.db, synchronous=cfg.engine.synchronous)
            )
            eng.outbox = Outbox(eng.log)
            eng.health = FlowHealth(eng.log, cfg.poll.refused_retry_s)
            await eng.outbox.ensure()
            sealer = PiiSealer.from_log(eng.log, master_key)
            await sealer.ensure_schema()
            await sealer.check_master()  # another machine rotated the key: say so now
            session = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=cfg.dispatch.timeout_s))
            )
            eng._session = session
            eng.qad = QadClient(session, qad_settings)
            await eng.qad.start()
            eng.qad.transport.observer = eng.metrics
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
                observer=eng.metrics,
            )
            # Freshness samples (engine.ops.freshness) on the Amazon clock, with each done state.
            await eng.log.ensure_schema(FRESHNESS_SCHEMA)
            eng.outbox.after_attempts = FreshnessRecorder(amazon_clock or _wall_now)
            raw = raw_dir or _raw_dir(cfg)
            eng.pollers = build_pollers(cfg, eng.log, eng.amazon, eng.qad, sealer, raw)
            if cfg.notifications.enabled:  # the accelerator; the orders pollers stay on
                if aws_credential is None:
                    raise CredentialError("[notifications] enabled needs an AWS credential")
                eng.pollers["notifications"] = await stack.enter_async_context(
                    notifications_consumer(
                        cfg,
                        eng.log,
                        eng.pollers,
                        aws_credential,
                        seller_id=amazon_account.seller_id,
                    )
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
                await _limiters(eng.log, cfg, qad_settings, amazon_account),
                cfg.dispatch,
                observer=eng.metrics,
                skip_unsent_lookups=cfg.dispatch.lookup_before_create == "unless_unsent",
                claims=claims_for(eng.log, eng.outbox),
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

        # Each poller's log lines carry its flow and region (engine.security.log_context).
        tasks = [
            asyncio.create_task(one(n, p), context=log_context_for(**poller_fields(n)))
            for n, p in chosen.items()
        ]
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
        self,
        progress: Progress | None = None,
        dispatch_timeout_s: float = 600.0,
        *,
        overlap: bool = True,
    ) -> SyncReport:
        """Poll everything once, project, dispatch until nothing is due (``sync --once``).

        ``overlap`` (the default): the phases run side by side (``engine.ops.overlap``);
        False: strictly one after another (kept for comparison in benches and tests)."""
        if overlap:
            return await sync_overlapped(self, progress, dispatch_timeout_s)
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

    @property
    def stop_event(self) -> asyncio.Event:
        """Set by ``stop``: the scheduler's flows end their loops on it."""
        return self._stop

    def stop(self) -> None:
        """Ask ``run_forever`` to stop polling and drain (signal handlers call this)."""
        self._stop.set()

    async def run_forever(self, drain_s: float = 30.0) -> None:
        """The scheduler of ``ml-connector run`` (``engine.ops.scheduler``), with the alarms of
        ``[alerts]`` checked beside it (``engine.ops.alerts``)."""
        async with watch_alerts(self):
            await run_flows(self, drain_s)

    async def guarded(self, aw: Awaitable[Any], what: str) -> None:
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


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
    """Poll ``predicate`` until true or timeout (used by the demo and tests)."""
    end = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < end:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False
