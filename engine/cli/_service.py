"""``ml-connector run`` as a service: SIGTERM/SIGINT drain and stop, SIGHUP reloads the config.

Reload (systemd ``ExecReload=kill -HUP $MAINPID``, ``docker kill -s HUP``): the config file is
read and checked first; a config that does not load is refused with one ERROR line and the
engine keeps running on the one it has (a typo never takes a running connector down). A good
one stops polling, drains in-flight posts exactly as SIGTERM does, and opens the engine again
with the new config in the same process; nothing is lost in between (every poller resumes from
its watermark, commands still pending are picked up again, an interrupted post is recorded as
unknown and looked up before it is retried).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import FrameType
from typing import Any

from engine.cli._engine import config_from, vault_from
from engine.cli._logging import console
from engine.config import Config
from engine.errors import ConfigError, CredentialError
from engine.ops import session
from engine.web.server import engine_page

__all__ = ["run_service"]

log = logging.getLogger("engine.cli.service")

# What serves the status page around the open engine (None: no [web] bind).
Page = Callable[[Any], AbstractAsyncContextManager[None]] | None


class _Control:
    """What the signals asked for; read after each engine run ends."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.next_config: Config | None = None
        self.next_page: Page = None
        self.early_reload = False  # SIGHUP while the engine was still opening
        self._stop: Callable[[], None] | None = None

    def attach(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        if self.early_reload:
            self.early_reload = False
            self.reload()

    def terminate(self) -> None:
        self.next_config = None  # a SIGTERM during a reload's drain wins: stop for good
        if self._stop is not None:
            self._stop()

    def reload(self) -> None:
        try:
            new = config_from(self.args)
            # The page's access token too: a new non-loopback bind without one is refused
            # now, not after the running engine was stopped for it.
            page = engine_page(new, vault_from(self.args))
        except (ConfigError, CredentialError) as exc:
            log.error("config reload refused, still running on the previous config: %s", exc)
            return
        log.warning("SIGHUP: reloading %s (draining in-flight posts first)", new.source)
        self.next_config, self.next_page = new, page
        if self._stop is not None:
            self._stop()


def run_service(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    page = engine_page(cfg, vault_from(args))
    while True:
        control = _Control(args)

        def early(_sig: int, _frame: FrameType | None, c: _Control = control) -> None:
            c.early_reload = True  # until the loop's own handler takes over in started()

        previous = signal.signal(signal.SIGHUP, early)

        def started(
            stop: Callable[[], None], c: _Control = control, db: str = cfg.engine.db
        ) -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, c.terminate)
            loop.add_signal_handler(signal.SIGHUP, c.reload)
            c.attach(stop)
            console(
                f"ml-connector running on {db}; Ctrl-C or SIGTERM stops, SIGHUP reloads the config",
                stream=sys.stdout,
            )

        try:
            asyncio.run(
                session.run_forever(
                    cfg,
                    vault_path=vault_from(args),
                    drain_s=args.drain,
                    started=started,
                    around=page,  # [web] bind: the status page
                )
            )
        finally:
            signal.signal(signal.SIGHUP, previous)
        if control.next_config is None:
            break
        cfg, page = control.next_config, control.next_page
        console(f"config reloaded from {cfg.source}; starting again", stream=sys.stdout)
    console("stopped cleanly", stream=sys.stdout)
    return 0
