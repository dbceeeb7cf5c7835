"""``ml-connector audit --db F KEY``: the whole story of one Amazon order, settlement or SKU.

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

from engine.cli.status import existing_db
from engine.commands.outbox import CommandHistory, Outbox
from engine.log import SQLiteEventLog, StoredEvent

__all__ = ["collect_audit", "register", "run", "sanitize"]

# Keys whose values are buyer data if they ever appear in clear.
_PII_KEYS = frozenset(
    {
        "buyer_name",
        "buyer_email",
        "buyeremail",
        "buyername",
        "email",
        "phone",
        "name",
        "address_line1",
        "address_line2",
        "address_line3",
        "addressline1",
        "addressline2",
        "addressline3",
        "postal_code",
        "postalcode",
        "buyer_info",
        "buyerinfo",
        "shipping_address",
        "shippingaddress",
        "buyer_tax_info",
    }
)


def _is_envelope(obj: dict[str, Any]) -> bool:
    return "pii" in obj and ("kid" in obj or "ct" in obj or "purged" in obj)


def sanitize(obj: Any) -> Any:
    """A copy safe to print: envelopes -> "[sealed]", clear PII fields -> "[redacted]"."""
    if isinstance(obj, dict):
        if _is_envelope(obj):
            return "[sealed]"
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key.lower() in _PII_KEYS and value not in (None, ""):
                out[key] = (
                    "[sealed]" if isinstance(value, dict) and _is_envelope(value) else "[redacted]"
                )
            else:
                out[key] = sanitize(value)
        return out
    if isinstance(obj, list):
        return [sanitize(v) for v in obj]
    return obj


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "audit",
        help="the whole story of one order / settlement / SKU",
        description="Fetched events (versions), derived commands, every attempt and the QAD "
        "document, for an Amazon order id, settlement id or SKU (read-only).",
    )
    parser.add_argument("--db", required=True, help="event log file (SQLite)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("key", help="Amazon order id, settlement id or SKU")
    parser.set_defaults(func=run)


async def _event_at(log: SQLiteEventLog, position: int) -> StoredEvent | None:
    async for ev in log.read(after=position - 1, batch_size=1):
        return ev if ev.position == position else None
    return None


def _event_json(ev: StoredEvent, *, full: bool) -> dict[str, Any]:
    payload = sanitize(ev.payload)
    if not full and isinstance(payload, dict):
        # Snapshot-style events carry many unrelated records: keep scalars, count the rest.
        payload = {
            k: (f"[{len(v)} entries]" if isinstance(v, list | dict) else v)
            for k, v in payload.items()
        }
    return {
        "position": ev.position,
        "stream": ev.stream,
        "type": ev.type,
        "key": ev.key,
        "digest": ev.digest[:12],
        "recorded_at": ev.recorded_at.isoformat(),
        "source": ev.source,
        "payload": payload,
    }


def _command_json(h: CommandHistory) -> dict[str, Any]:
    documents = [a.document for a in h.attempts if a.document]
    return {
        "command_id": h.command.command_id,
        "seq": h.seq,
        "kind": h.command.kind,
        "target": h.command.target,
        "reference": h.command.reference,
        "projector": h.projector,
        "created_at": h.created_at,
        "from_positions": list(h.command.positions),
        "state": h.state,
        "document": documents[-1] if documents else None,
        "attempts": [
            {
                "attempt": a.attempt,
                "at": a.at.isoformat(),
                "endpoint": a.endpoint,
                "request": a.request,
                "response": a.response,
                "document": a.document,
                "outcome": a.outcome,
                "retry_at": a.retry_at.isoformat() if a.retry_at else None,
            }
            for a in h.attempts
        ],
    }


async def collect_audit(log: SQLiteEventLog, key: str) -> dict[str, Any]:
    outbox = Outbox(log)
    has_outbox = await outbox.has_tables()
    own = await log.history(None, key)
    histories = await outbox.history(key) if has_outbox else []
    seen = {ev.position for ev in own}
    related: list[StoredEvent] = []
    for h in histories:
        for pos in h.command.positions:
            if pos not in seen:
                seen.add(pos)
                ev = await _event_at(log, pos)
                if ev is not None:
                    related.append(ev)
    parks = await outbox.record_parks(key) if has_outbox else []
    return {
        "key": key,
        "events": [_event_json(ev, full=True) for ev in own]
        + [_event_json(ev, full=False) for ev in sorted(related, key=lambda e: e.position)],
        "parks": [
            {"projector": p[0], "position": p[1], "reason": p[2], "at": p[3], "resolved": p[4]}
            for p in parks
        ],
        "commands": [_command_json(h) for h in histories],
    }


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
        w(f"  #{c['seq']} {c['kind']} ref={c['reference']} [{c['state']}]{doc}\n")
        w(f"       id {c['command_id']}  from events {c['from_positions']}\n")
        for a in c["attempts"]:
            retry = f" (retry at {a['retry_at']})" if a["retry_at"] else ""
            w(f"    attempt {a['attempt']} {a['at']} {a['outcome']}{retry}  {a['endpoint']}\n")
            w(f"       request:  {a['request']}\n")
            w(f"       response: {a['response']}\n")
        if not c["attempts"]:
            w("    (not attempted yet)\n")


def run(args: argparse.Namespace) -> int:
    path = existing_db(args.db)

    async def main() -> dict[str, Any]:
        async with SQLiteEventLog.open(path, readonly=True) as log:
            return await collect_audit(log, args.key)

    audit = asyncio.run(main())
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(audit, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        render(audit, sys.stdout)
    found = audit["events"] or audit["commands"] or audit["parks"]
    return 0 if found else 1
