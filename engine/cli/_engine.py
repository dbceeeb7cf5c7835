"""Shared CLI plumbing: the --config/--vault arguments and what they name (the engine itself is
opened by engine/ops/session.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.config import Config, load_config

__all__ = ["add_config_arguments", "config_from", "vault_from"]


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


def vault_from(args: argparse.Namespace) -> Path | None:
    """The --vault file, or None for the default (resolved by ``ops.session.open_engine``)."""
    return Path(args.vault) if getattr(args, "vault", None) else None
