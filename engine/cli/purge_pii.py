"""``ml-connector purge-pii --db F --older-than DAYS``: crypto-shred old buyer PII.

Destroys the per-record data keys of orders placed more than DAYS ago (by the order's
PurchaseDate; keys stored without one age from their creation), so the sealed addresses in those
events can never be decrypted again; the append-only events themselves are untouched and still
replay (projectors see ``None`` for the address). The erasure is verified on disk: while a reader
holds the log open (a running engine, status, audit, sqlite3) it fails with exit 1; run it again
once they are stopped. ``--db`` may also be a PostgreSQL URL: the key table is then rewritten
(VACUUM FULL, CHECKPOINT) and the message says what that leaves (WAL archives, replicas,
earlier backups keep wrapped copies).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.config.database import is_postgresql_url
from engine.errors import ConfigError
from engine.ops.purge import purge_pii
from engine.ops.status import existing_db

__all__ = ["MAX_DAYS", "register", "run"]

MAX_DAYS = 36500  # 100 years


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "purge-pii",
        help="make buyer addresses of orders older than N days unreadable (destroys their keys)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # str, not Path: Path would fold a URL's "//" and it would no longer read as a URL.
    parser.add_argument("--db", required=True, help="event log file or postgresql:// URL")
    parser.add_argument(
        "--older-than",
        type=float,
        required=True,
        metavar="DAYS",
        help=f"age in days (more than 0, at most {MAX_DAYS})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    days: float = args.older_than
    # Not 0: it destroys every address, also of orders not posted to QAD yet. The upper bound
    # keeps the cutoff a real date (1e308 or inf days would overflow timedelta); NaN fails both.
    if not 0 < days <= MAX_DAYS:
        raise ConfigError(
            f"--older-than must be more than 0 and at most {MAX_DAYS} days, not {days:g}"
        )
    cutoff = datetime.now(UTC) - timedelta(days=days)
    if is_postgresql_url(args.db):
        result = asyncio.run(purge_pii(args.db, cutoff))
        where = result.where  # the label: the URL without user or password
    else:
        db = Path(args.db)
        if not db.exists():
            raise ConfigError(f"event log {db} does not exist (check --db)")
        existing_db(db)  # a directory or an empty file: one line before the key is even loaded
        result = asyncio.run(purge_pii(db, cutoff))
        where = str(db)
    print(
        f"purged {result.destroyed} buyer-PII keys of orders placed before "
        f"{cutoff:%Y-%m-%d %H:%M} UTC in {where} ({result.erasure})"
    )
    return 0
