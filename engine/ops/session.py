"""Open the engine with credentials from the vault (master key, Amazon + QAD logins, expiry
warning) and run it: one ``sync --once`` pass, or the long-running ``run`` scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.errors import CredentialError
from engine.ops.alerts import alert_secrets
from engine.ops.credentials import amazon_account, build_qad_settings
from engine.ops.engine import Engine, SyncReport
from engine.ops.tenant_lease import claim_tenant
from engine.ops.worker import Worker, check_partitions, partition_label
from engine.security.keys import load_master_key
from engine.security.rotation import secret_expiry
from engine.security.vault import Vault, default_vault_path

__all__ = ["open_engine", "run_forever", "run_worker", "sync_once"]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@asynccontextmanager
async def open_engine(cfg: Config, *, vault_path: Path | None = None) -> AsyncIterator[Engine]:
    """Open the engine with credentials from the vault (default: ``default_vault_path()``)."""
    # Never create a key here: a mistyped $ML_CONNECTOR_KEY_FILE would silently get a new key
    # that opens nothing (only `creds set` creates the first key).
    key = load_master_key(create=False)
    path = vault_path if vault_path is not None else default_vault_path()
    vault = Vault.open(path, key)
    credential = vault.get_amazon(cfg.amazon.credential)
    notice = secret_expiry(credential, datetime.now(UTC).date())
    if notice is not None:  # a long-running `run` repeats this on every restart
        log.warning("%s: %s", notice.message, notice.fix)
    account = amazon_account(cfg, credential)  # config amazon.seller_id wins when set
    qad = build_qad_settings(cfg, vault_path=path)
    alerts = alert_secrets(cfg.alerts, vault)  # [alerts] secrets: a missing one exits 2 here
    # [notifications]: the AWS key of the SQS queue, read only when the accelerator is on.
    aws = vault.get_aws(cfg.notifications.credential) if cfg.notifications.enabled else None
    async with Engine.open(
        cfg, amazon_account=account, qad_settings=qad, master_key=key, aws_credential=aws
    ) as eng:
        # The key was read before the log's writer lock was taken; a `creds rotate-key` that ran
        # in between would leave us sealing new PII under the retired key. Read it again now
        # that rotation is locked out (a rotation in progress refuses with its own advice).
        if load_master_key(create=False) != key:
            raise CredentialError(
                "the master key changed while the engine was starting (`creds rotate-key` ran); "
                "start it again"
            )
        # Before any poll or post: a second event log must never feed the same tenant entity.
        await claim_tenant(eng.log, qad.tenant_url, qad.entity)
        eng.alert_secrets = alerts
        yield eng


async def sync_once(
    cfg: Config, *, vault_path: Path | None = None, progress: Progress | None = None
) -> SyncReport:
    """``sync --once``: open the engine, poll + project + dispatch until nothing is due."""
    async with open_engine(cfg, vault_path=vault_path) as eng:
        return await eng.sync_once(progress=progress)


async def run_forever(
    cfg: Config,
    *,
    vault_path: Path | None = None,
    drain_s: float = 30.0,
    started: Callable[[Callable[[], None]], None] | None = None,
    around: Callable[[Engine], AbstractAsyncContextManager[Any]] | None = None,
) -> None:
    """``run``: open the engine and schedule every flow until stopped, then drain.

    ``started(stop)`` is called once the engine is open, before scheduling begins; calling
    ``stop`` (e.g. from a signal handler) ends polling and drains in-flight posts. ``around``
    wraps the scheduling with something that needs the open engine (the status page,
    engine/web/server.py ``engine_page``: the CLI passes it, ops cannot import the web layer).
    """
    async with AsyncExitStack() as stack:
        eng = await stack.enter_async_context(open_engine(cfg, vault_path=vault_path))
        if around is not None:
            await stack.enter_async_context(around(eng))
        if started is not None:
            started(eng.stop)
        await eng.run_forever(drain_s=drain_s)


async def run_worker(
    configs: Sequence[Config],
    *,
    vault_path: Path | None = None,
    stop: asyncio.Event,
    lease_s: float = 30.0,
    drain_s: float = 30.0,
    started: Callable[[Worker], None] | None = None,
) -> Worker:
    """``run --worker``: open every partition's engine, then run them (engine.ops.worker)
    until ``stop`` is set; returns the worker (its stats) once it has stopped cleanly."""
    check_partitions({cfg.source: cfg for cfg in configs})
    async with AsyncExitStack() as stack:
        engines = {}
        for cfg in configs:
            engines[partition_label(cfg)] = await stack.enter_async_context(
                open_engine(cfg, vault_path=vault_path)
            )
        worker = Worker(engines, lease_s=lease_s, drain_s=drain_s)
        if started is not None:
            started(worker)
        await worker.run(stop)
        return worker
