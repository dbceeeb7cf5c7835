"""``ml-connector ping [--config F]``: check every configured account against the real systems.

Amazon, per account and region: an LWA token exchange and ``getMarketplaceParticipations`` (the
cheapest SP-API call; it also shows which marketplaces the seller really has). QAD: a login and
the engine's start-up probe of the tenant profile, key by key: every entity path (GET: 200, 400
or 405 = present), and page 1 of every browse (a row must carry every column the engine reads,
and a look-up browse must find that row again by its look-up column; an empty look-up browse is
a warning, an empty item or on-hand browse a failure). Prints one row per check (ok / warn /
FAILED with the reason and a fix naming the config key) and exits 1 if any check failed, 2 for
config/vault problems. `ml-connector qad discover` finds the tenant's own names for failed keys.

``amazon.endpoint`` may contain ``{region}`` (lower-cased), e.g. ``http://127.0.0.1:8000/{region}``
for the simulator, whose regions are path prefixes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from engine.config import load_config
from engine.ops.ping import Check, run_checks
from engine.security.redact import install_redaction
from engine.security.vault import default_vault_path

__all__ = ["register", "render", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "ping",
        help="check credentials and connectivity to Amazon and QAD",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=Path("config.toml"), help="config file")
    parser.add_argument("--vault", type=Path, default=None, help="credential vault file")
    parser.add_argument(
        "--all", action="store_true", help="ping every vault credential, not only the configured"
    )
    parser.add_argument("--only", choices=("amazon", "qad"), default=None, help="one system")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.security.vault import open_vault

    install_redaction()
    cfg = load_config(args.config)
    vault = open_vault(args.vault or default_vault_path())
    checks = asyncio.run(
        run_checks(cfg, vault, all_credentials=args.all, only=args.only, timeout_s=args.timeout)
    )
    render(checks, sys.stdout)
    return 1 if any(c.status == "FAILED" for c in checks) else 0


def render(checks: Sequence[Check], out: TextIO) -> None:
    """A fixed-width table; FAILED and warn rows get their fix on the next line."""
    if not checks:
        print("nothing to ping (no credentials configured)", file=out)
        return
    w_sys = max(len("SYSTEM"), *(len(c.system) for c in checks))
    w_tgt = max(len("ACCOUNT"), *(len(c.target) for c in checks))
    w_step = max(len("CHECK"), *(len(c.step) for c in checks))
    print(f"{'SYSTEM':<{w_sys}}  {'ACCOUNT':<{w_tgt}}  {'CHECK':<{w_step}}  RESULT", file=out)
    for c in checks:
        line = (
            f"{c.system:<{w_sys}}  {c.target:<{w_tgt}}  {c.step:<{w_step}}  {c.status}: {c.detail}"
        )
        print(line, file=out)
        if c.fix and c.status != "ok":
            print(f"{'':<{w_sys + w_tgt + w_step + 6}}fix: {c.fix}", file=out)
    failed = sum(c.status == "FAILED" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    print(f"{len(checks)} checks: {failed} failed, {warned} warnings", file=out)
