"""Starting the status page: beside a running engine (``run`` with ``[web] bind``) or alone
(``serve --db F [--config F]``), with the bind and token rules.

- Loopback binds (127.0.0.0/8, ::1, localhost) need no token. Any other bind needs the vault
  secret ``[web] token_secret``; without it the page refuses to start (CredentialError, exit 2).
- Under ``run`` the page reads and writes the engine's own log; a retry re-queues and the
  scheduler posts it on its next cycle (a second dispatcher beside the scheduler's could claim
  the same command twice).
- Alone, the page reads through a read-only connection and opens the writing log only for an
  action, so it never keeps ``run`` from starting (``db`` is an SQLite file or a PostgreSQL
  URL: ``engine.log.opening.open_event_log`` picks the backend); with ``--config`` a retry is
  posted at once by the dispatcher of ``replay --config`` (``engine.ops.replay``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.config import Config
from engine.config.web import is_loopback, parse_bind
from engine.dispatch.dispatcher import RunCounts
from engine.errors import ConfigError, CredentialError
from engine.log import EventLog
from engine.log.opening import open_event_log
from engine.ops.replay import replay_dispatcher
from engine.security.vault import default_vault_path, open_vault
from engine.web.app import build_app
from engine.web.context import Dispatch, WebContext

__all__ = [
    "engine_context",
    "engine_page",
    "load_token",
    "serve_context",
    "serving",
    "url_of",
]

log = logging.getLogger(__name__)
DISPATCH_TIMEOUT_S = 60.0


def load_token(cfg: Config, bind: str, vault_path: Path | None) -> str | None:
    """The access token for ``bind``: None on loopback; else the vault secret (required)."""
    host, _ = parse_bind(bind)
    if is_loopback(host):
        return None
    name = cfg.web.token_secret
    try:
        vault = open_vault(vault_path or default_vault_path())
        return vault.get_secret(name).value
    except CredentialError as exc:
        raise CredentialError(
            f"[web] bind {bind} is not loopback: it needs an access token, the vault secret "
            f"{name!r} ({exc}); store one with `ml-connector serve --new-token`, or bind "
            "127.0.0.1"
        ) from None


def url_of(bind: str) -> str:
    host, port = parse_bind(bind)
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


@asynccontextmanager
async def serving(ctx: WebContext, bind: str) -> AsyncIterator[str]:
    """Listen on ``bind`` until the block ends; yields the page's URL."""
    host, port = parse_bind(bind)
    if not is_loopback(host) and ctx.token is None:
        raise ConfigError(f"[web] bind {bind} is not loopback and no access token is set")
    runner = web.AppRunner(build_app(ctx), access_log=None)  # URLs carry order ids: no log
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"[web] bind {bind}: cannot listen ({exc.strerror})") from None
        url = url_of(bind)
        log.warning("status page on %s%s", url, "" if ctx.token is None else " (token required)")
        yield url
    finally:
        await runner.cleanup()


def engine_page(
    cfg: Config, vault_path: Path | None
) -> Callable[[Any], AbstractAsyncContextManager[None]] | None:
    """For ``run``: None without ``[web] bind``; else what serves the page around the open
    engine (``session.run_forever(around=...)``). The token is read now, before the engine
    opens: a non-loopback bind without one refuses to start (CredentialError, exit 2)."""
    if not cfg.web.bind:
        return None
    token = load_token(cfg, cfg.web.bind, vault_path)

    @asynccontextmanager
    async def around(eng: Any) -> AsyncIterator[None]:
        async with serving(engine_context(eng, cfg, token), cfg.web.bind):
            yield

    return around


def engine_context(eng: Any, cfg: Config, token: str | None) -> WebContext:
    """The page of a running engine (``engine.ops.engine.Engine``)."""

    @asynccontextmanager
    async def actions() -> AsyncIterator[tuple[EventLog, Dispatch | None]]:
        yield eng.log, None

    return WebContext(
        log=eng.log,
        poll=cfg.poll,
        cfg=cfg,
        token=token,
        actions=actions,
        expected_flows=(*sorted(eng.pollers), "dispatch"),
        metrics=getattr(eng, "metrics", None),
        mode="run",
    )


@asynccontextmanager
async def serve_context(
    db: str | Path,
    cfg: Config | None,
    token: str | None,
    *,
    vault_path: Path | None = None,
    demo: bool = False,
) -> AsyncIterator[WebContext]:
    """The page alone on the log ``db`` (see module doc)."""

    @asynccontextmanager
    async def actions() -> AsyncIterator[tuple[EventLog, Dispatch | None]]:
        async with AsyncExitStack() as stack:
            writer = await stack.enter_async_context(
                open_event_log(db, synchronous=cfg.engine.synchronous if cfg else "FULL")
            )
            if cfg is None:
                yield writer, None
                return
            dispatcher = await stack.enter_async_context(
                replay_dispatcher(writer, cfg, vault_path=vault_path, demo=demo)
            )

            async def dispatch() -> RunCounts:
                return await dispatcher.run_until_idle(DISPATCH_TIMEOUT_S)

            yield writer, dispatch

    async with open_event_log(db, readonly=True) as reader:
        yield WebContext(
            log=reader,
            poll=cfg.poll if cfg else Config().poll,
            cfg=cfg,
            token=token,
            actions=actions,
            dispatch_now=cfg is not None,
            dispatch_note="they are pending now; the next `sync` or `run` posts them "
            "(start `serve` with --config to post at once)",
            mode="serve",
        )
