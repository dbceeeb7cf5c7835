"""``ml-connector log stats|show|check|backup|restore|migrate``: look into and look after an
event log, an SQLite file or (``--db postgresql://...``) a PostgreSQL log.

``stats``, ``show``, ``check`` and ``backup`` only read (safe beside a running sync, and they
never create the file or the database); ``restore`` writes an SQLite file and refuses while an
engine holds it (a PostgreSQL backup is restored with ``pg_restore``); ``migrate`` reads the
SQLite log and writes a PostgreSQL copy (engine/ops/log_migrate.py). On PostgreSQL, ``check`` is
engine/log/postgres_check.py and ``backup`` runs ``pg_dump`` (engine/log/postgres_backup.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from engine.config.database import is_postgresql_url, partition_namespace, split_partition
from engine.errors import ConfigError, StoreError
from engine.log.backup import CheckReport, backup, check, restore
from engine.log.opening import open_event_log
from engine.ops.status import existing_db, existing_log

_DB_HELP = "event log: an SQLite file or a postgresql://user@host/db URL"
_SCHEMA_HELP = "PostgreSQL only: the schema holding the log (a partition's, e.g. mlc_p_acme_eu)"


def _db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help=_DB_HELP)
    parser.add_argument("--schema", metavar="NAME", help=_SCHEMA_HELP)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "log",
        help="inspect the append-only event log",
        description="Inspect, check, back up or restore an event log (an SQLite file or a "
        "PostgreSQL URL). Everything but restore and migrate only reads (safe beside a running "
        "sync).",
    )
    which = parser.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    stats = which.add_parser(
        "stats", help="event counts per stream and type, and the head position"
    )
    _db_arguments(stats)
    stats.set_defaults(func=run_stats)
    show = which.add_parser(
        "show",
        help="every stored version of one record, as JSON lines",
        description="Print the history of one record (e.g. an AmazonOrderId or settlement id) "
        "as JSON lines, oldest first.",
    )
    _db_arguments(show)
    show.add_argument("--stream", help="limit to one stream, e.g. amazon.orders")
    show.add_argument("key", help="the record's natural key")
    show.set_defaults(func=run_show)
    chk = which.add_parser(
        "check",
        help="verify the log's integrity (exit 1 and the first problems if corrupt)",
        description="SQLite: PRAGMA quick_check (or integrity_check with --full), then the "
        "log's own invariants: gap-free positions, every digest recomputed from its payload, "
        "the append-only guards, the trigger-kept counts. PostgreSQL: the same invariants plus "
        "the head row and the schema version, in one read-only snapshot. Reads the whole log.",
    )
    _db_arguments(chk)
    chk.add_argument(
        "--full",
        action="store_true",
        help="SQLite: also check every index against its table (slower)",
    )
    chk.set_defaults(func=run_check)
    bak = which.add_parser(
        "backup",
        help="consistent copy of a live log (SQLite online backup / pg_dump), mode 0600",
        description="SQLite: copy the log with SQLite's online backup API, a consistent "
        "snapshot even while the engine appends, one self-contained file verified after "
        "writing. PostgreSQL: pg_dump --format=custom of the log's schema (with --schema) or "
        "database, on one snapshot, listed back by pg_restore; restore it with pg_restore.",
    )
    _db_arguments(bak)
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
    res.add_argument("--db", required=True, help="event log file (SQLite) to (re)create")
    res.add_argument("--force", action="store_true", help="replace an existing event log")
    res.set_defaults(func=run_restore)
    mig = which.add_parser(
        "migrate",
        help="copy the SQLite log into PostgreSQL, position for position (resumable)",
        description="Copy every event (same positions, payloads and times), the pollers' "
        "bookmarks and every table beside the log (tracking, outbox, projection state, PII "
        "keys, deployment identity, flow health) into a PostgreSQL event log, then verify both "
        "sides: the same event digest, the same rows in every table. The source is only read, "
        "under its writer lock (stop the engine first). A target holding part of the events is "
        "resumed; one holding anything else is refused.",
        epilog="example:\n  ml-connector log migrate --db ml-connector.db "
        "--to postgresql://mlc@db.example/mlc --dry-run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mig.add_argument("--db", required=True, help="event log file (SQLite) to copy from")
    mig.add_argument("--to", required=True, help="postgresql://user@host[:port]/database")
    mig.add_argument("--schema", metavar="NAME", help="the schema to hold the log (a partition's)")
    mig.add_argument("--dry-run", action="store_true", help="check and count; write nothing")
    mig.add_argument(
        "--batch", type=int, default=5000, help="events per transaction (default 5000)"
    )
    mig.set_defaults(func=run_migrate)


def _partitioned(url: str, schema: str | None) -> tuple[str, str | None]:
    """A partition's log named the config's way (``postgresql://host/db#acme_eu``) as the
    database and its schema (``mlc_p_acme_eu``), what ``--schema`` would say."""
    base, partition = split_partition(url)
    if not partition:
        return url, schema
    if schema is not None:
        raise ConfigError(f"{base}: name the partition after # or with --schema, not both")
    return base, partition_namespace(base, partition)


def _target(args: argparse.Namespace) -> str | Path:
    """``--db`` checked: a URL as it is, a file as ``existing_db`` checks it (missing or a
    directory: ConfigError, exit 2); ``--schema`` only with a URL."""
    args.db, args.schema = _partitioned(args.db, args.schema)
    if args.schema is not None and not is_postgresql_url(args.db):
        raise ConfigError("--schema names a PostgreSQL schema: it needs a postgresql:// --db")
    return existing_log(args.db)


def run_stats(args: argparse.Namespace) -> int:
    async def main() -> dict[str, Any]:
        async with open_event_log(_target(args), readonly=True, namespace=args.schema) as log:
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
        async with open_event_log(_target(args), readonly=True, namespace=args.schema) as log:
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


def _needs_psycopg() -> None:
    """One line where psycopg, the optional extra, is not installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise StoreError(
            "a PostgreSQL event log needs psycopg: pip install 'ml-connector[postgresql]'"
        ) from exc


def run_check(args: argparse.Namespace) -> int:
    target = _target(args)
    report: CheckReport
    if isinstance(target, str):  # a PostgreSQL URL
        _needs_psycopg()
        from engine.log.postgres_check import check_postgres

        report = check_postgres(target, namespace=args.schema)
        kind = "PostgreSQL snapshot"
    else:
        report = check(target, full=args.full)
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
    target = _target(args)
    if isinstance(target, str):
        _needs_psycopg()
        from engine.log.postgres_backup import backup_postgres

        result = backup_postgres(target, Path(args.to), namespace=args.schema, force=args.force)
    else:
        result = backup(target, Path(args.to), force=args.force)
    made = f" with {result.tool}" if result.tool else ""
    print(
        f"backed up {result.events} events (head {result.head}) from {result.source} to "
        f"{result.target} in {result.seconds:.2f} s{made}"
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    if is_postgresql_url(args.db):
        raise ConfigError(
            "log restore writes an SQLite file; restore a PostgreSQL backup into an empty "
            "database with: pg_restore --dbname=postgresql://user@host/db FILE, then run "
            "`ml-connector log check --db` on it"
        )
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
    args.to, args.schema = _partitioned(args.to, args.schema)
    if not 1 <= args.batch <= 100_000:
        raise ConfigError("--batch must be 1..100000")
    from engine.log.postgres import safe_label  # psycopg: the optional extra
    from engine.ops.log_migrate import migrate_to_postgresql

    last = [0.0]

    def progress(what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2 or done == total:
            last[0] = now
            print(f"  {done}/{total} {what}", file=sys.stderr)

    report = asyncio.run(
        migrate_to_postgresql(
            existing_db(args.db), args.to, batch_size=args.batch, dry_run=args.dry_run,
            progress=progress, namespace=args.schema,
        )
    )  # fmt: skip
    target = safe_label(args.to) + (f" (schema {args.schema})" if args.schema else "")
    rows = ", ".join(f"{name} {n}" for name, n in sorted(report.tables.items()) if n)
    beside = f"{sum(report.tables.values())} rows beside the log ({rows or 'none'})"
    if report.status == "would copy":
        print(
            f"would copy {report.copied} events (after {report.resumed_from}) and {beside} "
            f"to {target}"
        )
        return 0
    rate = report.copied / report.seconds if report.seconds else 0.0
    print(
        f"{report.status}: {report.copied} events copied (resumed after {report.resumed_from}), "
        f"{report.bookmarks} bookmarks, {beside}, head {report.source_head}, "
        f"{report.seconds:.1f} s ({rate:.0f} events/s) to {target}; sha256 "
        f"{report.digest[:16]} on both sides, every table's rows verified"
    )
    return 0
