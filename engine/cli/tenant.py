"""``ml-connector tenant show|claim``: which event log feeds the configured QAD tenant entity."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from engine.cli._engine import add_config_arguments, config_from, vault_from
from engine.ops.credentials import build_qad_settings
from engine.ops.tenant_lease import claim_for_config, show_claim

__all__ = ["register"]

DESCRIPTION = (
    "Each QAD tenant entity is fed by exactly one event log: the first `sync`/`run` that posts "
    "to it records its log's identity (on this machine for an SQLite log, in the database for a "
    "PostgreSQL one), and a second log is refused (two logs posting to one tenant would "
    "duplicate documents). `show` prints the claim; `claim` moves it to the log of --config "
    "(after a move to a new folder or a restore under a new name)."
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "tenant", help="which event log feeds the QAD tenant", description=DESCRIPTION
    )
    actions = p.add_subparsers(dest="tenant_action", metavar="ACTION", required=True)
    for name, text in (
        ("show", "print the claim of the configured tenant entity"),
        ("claim", "make the configured event log the one feeding the tenant entity"),
    ):
        a = actions.add_parser(name, help=text, description=text)
        add_config_arguments(a)
        a.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    settings = build_qad_settings(cfg, vault_path=vault_from(args))
    entity = settings.entity
    if args.tenant_action == "show":
        claim = asyncio.run(show_claim(cfg.engine.db, settings.tenant_url, entity))
        if claim is None:
            print(f"{settings.tenant_url} entity {entity or '(default)'}: not claimed yet")
        else:
            print(
                f"{claim.tenant_url} entity {claim.entity or '(default)'}: fed by {claim.db} "
                f"(log {claim.log_id[:8]}, since {claim.claimed_at})"
            )
        return 0
    mine, previous = asyncio.run(claim_for_config(cfg.engine.db, settings.tenant_url, entity))
    moved = f" (was {previous.db})" if previous is not None else ""
    print(f"{mine.tenant_url} entity {mine.entity or '(default)'}: now fed by {mine.db}{moved}")
    return 0
