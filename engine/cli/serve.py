"""``ml-connector serve --db F [--config F]``: the status page alone (engine/web), and
``serve --new-token``: store a random access token in the vault for a non-loopback bind."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from engine.config import Config, load_config
from engine.config.web import DEFAULT_BIND, parse_bind
from engine.errors import ConfigError
from engine.ops.status import existing_log
from engine.security.credentials import SecretCredential
from engine.security.vault import default_vault_path, open_vault
from engine.web.server import load_token, serve_context, serving

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="the status web page alone on an event log (read-only beside a running engine)",
        description="Serve the status page on --bind (default: [web] bind from --config, else "
        f"{DEFAULT_BIND}). It reads the log read-only and opens it for writing only for an "
        "action (retry, dismiss), so it never keeps `run` from starting; while `run` holds the "
        "log, actions are refused (use the page `run` serves). With --config a retry is posted "
        "at once (QAD login from the vault, or --demo-credentials for the simulator). A bind "
        "other than loopback needs the access token from the vault (`serve --new-token`).",
    )
    parser.add_argument(
        "--db",
        help="event log file or postgresql:// URL (default: [engine] db from --config)",
    )
    parser.add_argument("--config", type=Path, help="config.toml: cadences, mapping, QAD login")
    parser.add_argument("--bind", help=f"host:port (default [web] bind, else {DEFAULT_BIND})")
    parser.add_argument("--vault", type=Path, default=None, help="credential vault file")
    parser.add_argument(
        "--demo-credentials",
        action="store_true",
        help="post retries with the QAD simulator's demo login (local tenant only)",
    )
    parser.add_argument(
        "--new-token",
        action="store_true",
        help="store a new random access token as the vault secret [web] token_secret "
        "(default name: web), print it once, and exit",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config) if args.config else None
    if args.new_token:
        return _new_token(cfg or Config(), args.vault)
    if not args.db and cfg is None:
        raise ConfigError("serve needs --db F (or --config F naming [engine] db)")
    # An SQLite file is checked here (exit 2 for a wrong path); a PostgreSQL URL goes as it is
    # to the server, which answers for the database when the page opens the log to start.
    db = existing_log(args.db or (cfg.engine.db if cfg else ""))
    bind = args.bind or (cfg.web.bind if cfg and cfg.web.bind else DEFAULT_BIND)
    parse_bind(bind)  # a malformed --bind is a usage error before anything opens
    token = load_token(cfg or Config(), bind, args.vault)
    asyncio.run(_serve(db, cfg, token, bind, args.vault, args.demo_credentials))
    print("stopped", flush=True)
    return 0


async def _serve(
    db: str | Path, cfg: Config | None, token: str | None, bind: str, vault: Path | None, demo: bool
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with (
        serve_context(db, cfg, token, vault_path=vault, demo=demo) as ctx,
        serving(ctx, bind) as url,
    ):
        print(f"status page on {url} (Ctrl-C or SIGTERM stops)", flush=True)
        await stop.wait()


def _new_token(cfg: Config, vault_path: Path | None) -> int:
    path = vault_path or default_vault_path()
    vault = open_vault(path, create=True)
    token = secrets.token_urlsafe(32)
    vault.put(SecretCredential(cfg.web.token_secret, token))
    print(f"stored the access token as secret {cfg.web.token_secret!r} in {path}:", file=sys.stderr)
    print(token, flush=True)  # shown once: paste it into the login form or a Bearer header
    return 0
