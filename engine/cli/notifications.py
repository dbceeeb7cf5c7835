"""``ml-connector notifications subscribe [--config F]``: set up the ORDER_CHANGE accelerator.

Creates (or finds) the SQS destination of ``[notifications] sqs_queue_url`` with a grantless
token and the seller's ORDER_CHANGE subscription to it, in every region of
``amazon.marketplaces`` (README "Notifications accelerator", steps 2 and 3; the queue, its
policy and the AWS key are steps 1 and 4). Safe to run again: it changes nothing then. Prints
one line per region with the destination and subscription ids.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from engine.cli._logging import console
from engine.config import load_config
from engine.security.redact import install_redaction
from engine.security.vault import default_vault_path

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "notifications",
        help="set up Amazon's ORDER_CHANGE notifications (the optional accelerator)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("subscribe", help="create the destination and the subscription")
    p.add_argument("--config", type=Path, default=Path("config.toml"), help="config file")
    p.add_argument("--vault", type=Path, default=None, help="credential vault file")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.ops.notifications_setup import subscribe
    from engine.security.vault import open_vault

    install_redaction()
    cfg = load_config(args.config)
    vault = open_vault(args.vault or default_vault_path())
    for r in asyncio.run(subscribe(cfg, vault, timeout_s=args.timeout)):
        s = r.setup
        dest = "created" if s.created_destination else "found"
        sub = "created" if s.created_subscription else "found"
        console(
            f"{r.region}: destination {s.destination_id} ({dest}) -> {r.arn}; "
            f"ORDER_CHANGE subscription {s.subscription_id} ({sub})"
        )
    return 0
