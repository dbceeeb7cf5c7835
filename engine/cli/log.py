"""``ml-connector log stats|show|check|backup|restore|migrate``: look into and look after an
event log.

``stats``, ``show``, ``check`` and ``backup`` only read (safe beside a running sync, and they
never create the file); ``restore`` writes and refuses while an engine holds the log;
``migrate`` reads the SQLite log and writes a PostgreSQL copy (engine/log/migrate.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from engine.config.database import is_postgresql_url
from engine.errors import ConfigError
from engine.log import SQLiteEventLog
from engine.log.backup import backup, check, restore
from engine.ops.status import existing_db


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "log",
        help="inspect the append-only event log",
        description="Inspect, check, back up or restore an event log file. Everything but "
        "restore opens it read-only (safe beside a running sync).",
    )
    which = parser.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    stats = which.add_parser(
        "stats", help="event counts per stream and type, and the head position"
    )
    stats.add_argument("--db", required=True, help="event log file (SQLite)")
    stats.set_defaults(func=run_stats)
    show = which.add_parser(
        "show",
        help="every stored version of one record, as JSON lines",
        description="Print the history of one record (e.g. an AmazonOrderId or settlement id) "
        "as JSON lines, oldest first.",
    )
    show.add_argument("--db", required=True, help="event log file (SQLite)")
    show.add_argument("--stream", help="limit to one stream, e.g. amazon.orders")
    show.add_argument("key", help="the record's natural key")
    show.set_defaults(func=run_show)
    chk = which.add_parser(
        "check",
        help="verify the file's integrity (exit 1 and the first problems if corrupt)",
        description="Run PRAGMA quick_check (or integrity_check with --full) and the log's own "
        "invariants (gap-free positions, append-only guards). Reads the whole file.",
    )
    chk.add_argument("--db", required=True, help="event log file (SQLite)")
    chk.add_argument(
        "--full", action="store_true", help="also check every index against its table (slower)"
    )
    chk.set_defaults(func=run_check)
    bak = which.add_parser(
        "backup",
        help="consistent copy of a live log (SQLite online backup), mode 0600",
        description="Copy the log with SQLite's online backup API: a consistent snapshot even "
        "while the engine appends. The copy is one self-contained file, verified after writing.",
    )
    bak.add_argument("--db", required=True, help="event log file (SQLite)")
    bak.add_argument("--to", required=True, help="backup file to write")
    bak.add_argument("--force", action="store_true", help="replace an existing backup file")
    bak.set_defaults(func=run_backup)
    res = which.add_parser(
        "restore",
        help="replace the log with a verified backup",
        description="Check the backup in full, then write it to --db. Refuses an existing --db "
        "unless --force, and refuses while an engine holds the log.",
    )
    res.add_argument("--from", dest="source", required=True, help="backup file to restore")
    res.add_argument("--db", required=True, help="event log file to (re)create")
    res.add_argument("--force", action="store_true", help="replace an existing event log")
    res.set_defaults(func=run_restore)
    mig = which.add_parser(
        "migrate",
        help="copy the SQLite log into PostgreSQL, position for position (resumable)",
        description="Copy every event (same positions, payloads and times) and the pollers' "
        "bookmarks into a PostgreSQL event log, then verify both sides give the same digest. "
        "The source is only read. A target holding part of the copy is resumed; one holding "
        "anything else is refused. Not copied yet: tracking positions, outbox, projection "
        "state and PII keys (their PostgreSQL form is still to come: keep the SQLite file).",
        epilog="example:\n  ml-connector log migrate --db ml-connector.db "
        "--to postgresql://mlc@db.example/mlc --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mig.add_argument("--db", required=True, help="event log file (SQLite) to copy from")
    mig.add_argument("--to", required=True, help="postgresql://user@host[:port]/database")
    mig.add_argument("--dry-run", action="store_true", help="check and count; write nothing")
    mig.add_argument(
        "--batch", type=int, default=5000, help="events per transaction (default 5000)"
    )
    mig.set_defaults(func=run_migrate)


def _existing(db: str) -> Path:
    # Missing or a directory: one ConfigError line; empty: StoreError (see existing_db).
    return existing_db(db)


def run_stats(args: argparse.Namespace) -> int:
    async def main() -> dict[str, Any]:
        async with SQLiteEventLog.open(_existing(args.db), readonly=True) as log:
            return await log.stats()

    stats = asyncio.run(main())
    print(f"head position: {stats['head']}   events: {stats['events']}")
    width = max((len(s) + len(t) + 1 for s, ts in stats["streams"].items() for t in ts), default=10)
    for stream, types in stats["streams"].items():
        for etype, count in types.items():
            print(f"  {f'{stream}/{etype}':<{width}}  {count:>10}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with SQLiteEventLog.open(_existing(args.db), readonly=True) as log:
            events = await log.history(args.stream, args.key)
        for ev in events:
            line = {
                "position": ev.position,
                "stream": ev.stream,
                "type": ev.type,
                "key": ev.key,
                "digest": ev.digest,
                "recorded_at": ev.recorded_at,
                "source": ev.source,
                "payload": ev.payload,
            }
            sys.stdout.buffer.write(orjson.dumps(line, option=orjson.OPT_UTC_Z) + b"\n")
        if not events:
            print(f"no events with key {args.key!r}", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(main())


def run_check(args: argparse.Namespace) -> int:
    report = check(_existing(args.db), full=args.full)
    kind = "integrity_check" if report.full else "quick_check"
    if report.ok:
        print(
            f"ok: {report.path} (schema version {report.version}, {report.events} events, "
            f"{kind} in {report.seconds:.2f} s)"
        )
        return 0
    print(f"CORRUPT: {report.path} ({kind}); first problems:")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def run_backup(args: argparse.Namespace) -> int:
    result = backup(_existing(args.db), Path(args.to), force=args.force)
    print(
        f"backed up {result.events} events (head {result.head}) from {result.source} to "
        f"{result.target} in {result.seconds:.2f} s"
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if not source.is_file():
        raise ConfigError(f"backup {source} not found")
    result = restore(source, Path(args.db), force=args.force)
    print(
        f"restored {result.events} events (head {result.head}) from {result.source} into "
        f"{result.target}"
    )
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    if not is_postgresql_url(args.to):
        raise ConfigError("--to must be a postgresql:// URL")
    if not 1 <= args.batch <= 100_000:
        raise ConfigError("--batch must be 1..100000")
    from engine.log.migrate import migrate_log  # psycopg: the optional extra
    from engine.log.postgres import safe_label

    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2 or done == total:
            last[0] = now
            print(f"  {done}/{total} events", file=sys.stderr)

    report = asyncio.run(
        migrate_log(
            _existing(args.db), args.to, batch_size=args.batch, dry_run=args.dry_run,
            progress=progress,
        )
    )  # fmt: skip
    target = safe_label(args.to)
    if report.status == "would copy":
        print(f"would copy {report.copied} events (after {report.resumed_from}) to {target}")
        return 0
    rate = report.copied / report.seconds if report.seconds else 0.0
    print(
        f"{report.status}: {report.copied} events copied (resumed after {report.resumed_from}), "
        f"{report.bookmarks} bookmarks, head {report.source_head}, {report.seconds:.1f} s "
        f"({rate:.0f} events/s) to {target}; sha256 {report.digest[:16]} on both sides"
    )
    return 0
