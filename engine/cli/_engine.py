"""Shared CLI plumbing: load config, resolve credentials, open the engine."""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from engine.adapters.amazon.auth import AmazonAccount
from engine.config import Config, load_config
from engine.ops.credentials import build_qad_settings
from engine.ops.engine import Engine
from engine.security.keys import load_master_key
from engine.security.rotation import secret_expiry
from engine.security.vault import Vault, default_vault_path

log = logging.getLogger(__name__)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default="config.toml", help="configuration file (default: ./config.toml)"
    )
    parser.add_argument(
        "--vault",
        help="encrypted credential vault (default: $ML_CONNECTOR_VAULT or "
        "~/.config/ml-connector/vault.bin); fill it with `ml-connector creds set`",
    )


def config_from(args: argparse.Namespace) -> Config:
    return load_config(args.config)


@asynccontextmanager
async def open_engine(args: argparse.Namespace, cfg: Config) -> AsyncIterator[Engine]:
    """Open the engine with credentials from the vault named in config."""
    key = load_master_key()
    vault_path = Path(args.vault) if getattr(args, "vault", None) else default_vault_path()
    vault = Vault.open(vault_path, key)
    credential = vault.get_amazon(cfg.amazon.credential)
    notice = secret_expiry(credential, datetime.now(UTC).date())
    if notice is not None:  # a long-running `run` repeats this on every restart
        log.warning("%s: %s", notice.message, notice.fix)
    account = AmazonAccount.from_credential(credential)
    qad = build_qad_settings(cfg, vault_path=vault_path)
    async with Engine.open(cfg, amazon_account=account, qad_settings=qad, master_key=key) as eng:
        yield eng
