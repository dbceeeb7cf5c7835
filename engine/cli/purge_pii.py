"""``ml-connector purge-pii --db F --older-than DAYS``: crypto-shred old buyer PII.

Destroys the per-record data keys created more than DAYS ago, so the sealed addresses in those
events can never be decrypted again; the append-only events themselves are untouched and still
replay (projectors see ``None`` for the address).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.ops.purge import purge_pii

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "purge-pii",
        help="make buyer addresses older than N days unreadable (destroys their keys)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", type=Path, required=True, help="event log file")
    parser.add_argument(
        "--older-than", type=float, required=True, metavar="DAYS", help="age in days (>= 0)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    days: float = args.older_than
    if not days >= 0:  # also rejects NaN
        raise ConfigError("--older-than must be a number of days >= 0")
    db: Path = args.db
    if not db.exists():
        raise ConfigError(f"event log {db} does not exist (check --db)")
    cutoff = datetime.now(UTC) - timedelta(days=days)
    n = asyncio.run(purge_pii(db, cutoff))
    print(f"purged {n} buyer-PII keys created before {cutoff:%Y-%m-%d %H:%M} UTC in {db}")
    return 0
