"""What ``ml-connector audit KEY`` shows, as plain data: one key's events, commands, attempts
and parks, with buyer data sanitized (``sanitize``: sealed envelopes and clear PII fields masked).
"""

from __future__ import annotations

from typing import Any

from engine.commands.outbox import CommandHistory, Outbox
from engine.dispatch.listing_handlers import NOT_APPLIED, VERIFY_KIND
from engine.log import EventLog, StoredEvent

__all__ = ["collect_audit", "sanitize"]

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


async def _event_at(log: EventLog, position: int) -> StoredEvent | None:
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
        # A listing patch Amazon accepted but never applied (its read-back gave up).
        "flag": NOT_APPLIED if _not_applied(h) else None,
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


def _not_applied(h: CommandHistory) -> bool:
    last = h.attempts[-1] if h.attempts else None
    return (
        h.command.kind == VERIFY_KIND
        and last is not None
        and last.outcome == "skipped"
        and last.response.startswith(NOT_APPLIED)
    )


async def collect_audit(log: EventLog, key: str) -> dict[str, Any]:
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
