"""``ml-connector log stats|show``: look into an event log file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from engine.errors import ConfigError
from engine.log import SQLiteEventLog


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "log",
        help="inspect the append-only event log",
        description="Inspect an event log file (opened read-only; safe beside a running sync).",
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


def _existing(db: str) -> Path:
    path = Path(db)
    if not path.is_file():
        raise ConfigError(f"event log {path} not found (pass the file given as [engine] db)")
    return path


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
