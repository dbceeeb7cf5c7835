"""``replay``: re-queue parked commands (or one) and, with a config, dispatch them right away;
``replay --to-tenant``: validate the target, then run ``retarget.replay_to_target`` into it.

The log is an SQLite file or a PostgreSQL URL (``open_event_log``); a replay to a tenant keeps
its own outbox where ``retarget.replay_outbox`` says (a sibling file, or a schema of the same
PostgreSQL database).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from engine.adapters.amazon.auth import AmazonAccount
from engine.adapters.amazon.listings import ListingsAdapter
from engine.adapters.qad.client import QadClient
from engine.adapters.qad.settings import QadSettings
from engine.commands.outbox import Outbox
from engine.config import Config
from engine.dispatch.dispatcher import Dispatcher, RunCounts
from engine.dispatch.handlers import qad_handlers
from engine.dispatch.limits import LimiterRegistry
from engine.dispatch.listing_handlers import listing_handlers
from engine.errors import ConfigError, CredentialError
from engine.log import EventLog
from engine.log.opening import open_event_log
from engine.ops.credentials import build_amazon_account, build_qad_settings
from engine.ops.engine import amazon_clients, build_projectors
from engine.ops.retarget import (
    ReplayOutbox,
    ReplayResult,
    ReplayTarget,
    log_label,
    replay_outbox,
    replay_to_target,
)
from engine.ops.tenant_lease import claim_tenant
from engine.security.keys import load_master_key
from engine.security.pii import PiiSealer

__all__ = [
    "RequeueResult",
    "TenantReplayPlan",
    "plan_tenant_replay",
    "replay",
    "replay_dispatcher",
    "replay_into_tenant",
    "requeue",
]

_log = logging.getLogger(__name__)

Progress = Callable[[str], None]

REQUEUE_TIMEOUT_S = 120.0
TENANT_TIMEOUT_S = 86400.0  # a whole log at the [dispatch] QAD rate; a rerun resumes


async def replay(
    log: EventLog,
    *,
    parked: bool,
    command_id: str | None,
    dispatcher: Dispatcher | None = None,
    timeout_s: float = REQUEUE_TIMEOUT_S,
) -> tuple[list[str], RunCounts | None]:
    """Re-queue, then (with a dispatcher) dispatch until nothing is waiting."""
    outbox = Outbox(log)
    await outbox.ensure()
    if parked:
        ids = await outbox.requeue_parked()
    else:
        assert command_id is not None
        if not await outbox.requeue(command_id):
            raise ConfigError(f"no command {command_id!r} in {log.label} (see `audit` for ids)")
        ids = [command_id]
    counts = None
    if dispatcher is not None and ids:
        counts = await dispatcher.run_until_idle(timeout_s)
    return ids, counts


@dataclass(slots=True)
class RequeueResult:
    """What ``requeue`` did: the re-queued ids, the dispatch counts (None: not dispatched)
    and which of the re-queued commands are parked again, with the reason."""

    ids: list[str]
    counts: RunCounts | None = None
    still_parked: list[tuple[str, str]] = field(default_factory=list)


async def requeue(
    db: str | Path,
    *,
    parked: bool,
    command_id: str | None,
    cfg: Config | None = None,
    vault_path: Path | None = None,
    demo: bool = False,
    timeout_s: float | None = None,
) -> RequeueResult:
    """Re-queue on the log ``db`` (an SQLite file or a PostgreSQL URL); with ``cfg`` also
    dispatch with the configured QAD client (credentials from the vault, or the simulator's
    demo login with ``demo``) and the SP-API clients of ``amazon.marketplaces`` (the vault's
    Amazon credential) for listing patches. With ``demo`` and no ``vault_path`` (or no Amazon
    credential in it) only QAD commands are dispatched; the others stay pending for the next
    ``sync``/``run``."""
    async with open_event_log(db) as log:
        outbox = Outbox(log)
        if cfg is None:
            ids, counts = await replay(log, parked=parked, command_id=command_id)
            return RequeueResult(ids, counts)
        async with replay_dispatcher(log, cfg, vault_path=vault_path, demo=demo) as dispatcher:
            ids, counts = await replay(
                log,
                parked=parked,
                command_id=command_id,
                dispatcher=dispatcher,
                timeout_s=timeout_s or REQUEUE_TIMEOUT_S,
            )
        still = [(p.command_id, p.reason) for p in await outbox.parked() if p.command_id in ids]
        return RequeueResult(ids, counts, still)


@asynccontextmanager
async def replay_dispatcher(
    log: EventLog, cfg: Config, *, vault_path: Path | None = None, demo: bool = False
) -> AsyncIterator[Dispatcher]:
    """The dispatcher ``requeue`` posts with (also the status page's retry, engine/web): the
    configured QAD client (vault login, or the simulator's with ``demo``), the SP-API clients
    for listing patches when the vault has the Amazon credential; claims the tenant first."""
    settings = build_qad_settings(cfg, vault_path=vault_path, demo=demo)
    account = _amazon_account(cfg, vault_path, demo)
    outbox = Outbox(log)
    await claim_tenant(log, settings.tenant_url, settings.entity)
    async with aiohttp.ClientSession() as session, QadClient(session, settings) as qad:
        handlers = qad_handlers(qad, settings.paths, sealer=_ship_to_opener(log))
        if account is not None:
            clients = amazon_clients(cfg, session, account)
            adapter = ListingsAdapter(clients, cfg.listings)
            handlers.update(listing_handlers(adapter, outbox.get, cfg.listings))
        yield Dispatcher(
            log,
            outbox,
            handlers,
            LimiterRegistry.from_config(cfg.dispatch),
            cfg.dispatch,
            only_handled=True,
        )


@dataclass(frozen=True, slots=True)
class TenantReplayPlan:
    """A checked ``--to-tenant`` replay: source log (``namespace``: its PostgreSQL schema),
    target, login for it, replay outbox."""

    source: str | Path
    target: ReplayTarget
    cfg: Config
    settings: QadSettings
    outbox: ReplayOutbox
    namespace: str | None = None

    @property
    def source_label(self) -> str:
        """The source log for messages (a URL without its password)."""
        return log_label(self.source, self.namespace)


def plan_tenant_replay(
    source: str | Path,
    cfg: Config,
    target: ReplayTarget,
    *,
    credential: str | None = None,
    vault_path: Path | None = None,
    demo: bool = False,
    namespace: str | None = None,
) -> TenantReplayPlan:
    """Refuse the configured tenant itself; build the target's QAD settings (the config's
    tenant/credential, or ``credential``, only lend the login: URL and entity are the target's).
    ``source`` is an SQLite file or a PostgreSQL URL (the log in schema ``namespace``).
    """
    if cfg.qad.tenant_url and (ReplayTarget.parse(cfg.qad.tenant_url, cfg.qad.entity) == target):
        raise ConfigError(
            f"--to-tenant {target.tenant_url} --entity {target.entity} is the configured tenant "
            "itself; replay into a different (fresh) entity"
        )
    qad_cfg = dataclasses.replace(
        cfg.qad, tenant_url=target.tenant_url, credential=credential or cfg.qad.credential
    )
    settings = build_qad_settings(
        dataclasses.replace(cfg, qad=qad_cfg), vault_path=vault_path, demo=demo
    )
    settings = dataclasses.replace(settings, tenant_url=target.tenant_url, entity=target.entity)
    outbox = replay_outbox(source, target, namespace=namespace)
    return TenantReplayPlan(source, target, cfg, settings, outbox, namespace)


async def replay_into_tenant(
    plan: TenantReplayPlan, *, timeout_s: float | None = None, progress: Progress | None = None
) -> ReplayResult:
    """Replay every event of ``plan.source`` into the target, then verify (see retarget)."""
    cfg, settings, where = plan.cfg, plan.settings, plan.outbox
    limiters = LimiterRegistry.from_config(cfg.dispatch)
    async with (
        open_event_log(plan.source, readonly=True, namespace=plan.namespace) as source,
        open_event_log(
            where.target, synchronous=cfg.engine.synchronous, namespace=where.namespace
        ) as replay_log,
        aiohttp.ClientSession() as session,
        QadClient(session, settings) as qad,
    ):
        return await replay_to_target(
            source,
            replay_log,
            build_projectors(cfg),
            lambda outbox: Dispatcher(
                replay_log,
                outbox,
                qad_handlers(qad, settings.paths, sealer=_ship_to_opener(source)),
                limiters,
                cfg.dispatch,
            ),
            qad,
            timeout_s=timeout_s or TENANT_TIMEOUT_S,
            concurrency=cfg.dispatch.concurrency,
            before_request=lambda: limiters.acquire("qad"),
            progress=progress,
        )


def _amazon_account(cfg: Config, vault_path: Path | None, demo: bool) -> AmazonAccount | None:
    """The vault's Amazon account; with ``demo`` (a QAD-only replay) the vault is read only
    when given (``--vault``), and a missing Amazon credential there is no error."""
    if demo and vault_path is None:
        _log.info("replay: demo credentials without --vault; listing patches stay pending")
        return None
    try:
        return build_amazon_account(cfg, vault_path=vault_path)
    except CredentialError as exc:
        if not demo:
            raise
        _log.warning("replay: no Amazon credential (%s); listing patches stay pending", exc)
        return None


def _ship_to_opener(log: EventLog) -> PiiSealer | None:
    """The sealer that opens merchant-fulfilled orders' ship-to (their keys live in ``log``).

    Without a master key (a replay run with only demo credentials) orders are posted without
    a ship-to; the handler logs that for each one.
    """
    try:
        return PiiSealer.from_log(log, load_master_key(create=False))
    except CredentialError as exc:
        _log.warning("replay: no master key (%s); ship-to addresses are not posted", exc)
        return None
