"""``ml-connector audit --db F|URL KEY``: the whole story of one Amazon order, settlement or SKU.

Fetched events (every stored version), the commands derived from them, each attempt (when,
endpoint, request summary, response / QAD error text, outcome) and the resulting QAD document.
Buyer data never appears: sealed PII envelopes print as "[sealed]" and clear-text PII fields
(which should never be in the log) as "[redacted]".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from engine.log.opening import open_event_log
from engine.ops.audit import collect_audit
from engine.ops.status import existing_log

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "audit",
        help="the whole story of one order / settlement / SKU",
        description="Fetched events (versions), derived commands, every attempt and the QAD "
        "document, for an Amazon order id, settlement id or SKU (read-only).",
    )
    parser.add_argument(
        "--db", required=True, help="event log: an SQLite file or a postgresql:// URL"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("key", help="Amazon order id, settlement id or SKU")
    parser.set_defaults(func=run)


def _one_line(payload: Any) -> str:
    if not isinstance(payload, dict):
        return str(payload)[:160]
    parts = []
    for k, v in payload.items():
        if isinstance(v, list):
            parts.append(f"{k}=[{len(v)}]")
        elif isinstance(v, dict):
            parts.append(f"{k}={{...}}")
        elif isinstance(v, str) and v.startswith("["):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={v}")
    text = " ".join(parts)
    return text if len(text) <= 200 else text[:197] + "..."


def render(audit: dict[str, Any], out: Any) -> None:
    w = out.write
    w(f"audit {audit['key']}\n")
    if not audit["events"] and not audit["commands"] and not audit["parks"]:
        w("  nothing recorded under this key\n")
        return
    w(f"\nfetched events ({len(audit['events'])})\n")
    for version, ev in enumerate(audit["events"], start=1):
        w(
            f"  v{version} #{ev['position']} {ev['stream']}/{ev['type']} key={ev['key']} "
            f"at {ev['recorded_at']} digest {ev['digest']}\n"
        )
        w(f"       {_one_line(ev['payload'])}\n")
    if audit["parks"]:
        w("\nparked records\n")
        for p in audit["parks"]:
            state = "resolved" if p["resolved"] else "OPEN"
            w(f"  [{state}] {p['projector']} at #{p['position']}: {p['reason']}\n")
    w(f"\ncommands ({len(audit['commands'])})\n")
    for c in audit["commands"]:
        doc = f" -> QAD document {c['document']}" if c["document"] else ""
        flag = f" [{c['flag'].upper()}]" if c.get("flag") else ""  # e.g. NOT APPLIED
        w(f"  #{c['seq']} {c['kind']} ref={c['reference']} [{c['state']}]{flag}{doc}\n")
        w(f"       id {c['command_id']}  from events {c['from_positions']}\n")
        for a in c["attempts"]:
            retry = f" (retry at {a['retry_at']})" if a["retry_at"] else ""
            w(f"    attempt {a['attempt']} {a['at']} {a['outcome']}{retry}  {a['endpoint']}\n")
            w(f"       request:  {a['request']}\n")
            w(f"       response: {a['response']}\n")
        if not c["attempts"]:
            w("    (not attempted yet)\n")


def run(args: argparse.Namespace) -> int:
    target = existing_log(args.db)  # a file is checked first; a URL goes to its server

    async def main() -> dict[str, Any]:
        async with open_event_log(target, readonly=True) as log:
            return await collect_audit(log, args.key)

    audit = asyncio.run(main())
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(audit, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render(audit, sys.stdout)
    found = audit["events"] or audit["commands"] or audit["parks"]
    return 0 if found else 1
