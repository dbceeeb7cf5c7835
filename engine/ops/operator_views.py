"""Read-only lists for the status page (engine/web): parked items with their attempts, the
settlements with their QAD documents, and the inventory drift. Plain data, like ``status``.

Everything here comes from the event log (events + outbox, either backend), so it works beside
a running engine. Whether a settlement *reconciles* against what QAD holds needs QAD (``ml-connector
reconcile``); the page shows what the outbox knows: deposit, documents posted, their ids.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.commands.outbox import Outbox
from engine.commands.records import CMD_COLS, NEWEST, command_from_row
from engine.log import EventLog
from engine.ops.reconcile_record import recorded_outcomes

__all__ = ["inventory_drift", "parked_details", "settlement_rows"]

SETTLEMENT_KINDS = ("qad.invoice.create", "qad.journal.create")
MAX_ROWS = 500  # a page, not an export: the CLI lists everything


async def parked_details(log: EventLog) -> list[dict[str, Any]]:
    """Every parked command and open record park (oldest first) with what an operator needs:
    kind, reference, attempts (since the last re-queue and in all), first and last failure."""
    outbox = Outbox(log)
    if not await outbox.has_tables():
        return []
    out: list[dict[str, Any]] = []
    for item in await outbox.parked():
        row: dict[str, Any] = {
            "what": item.kind,
            "record_key": item.record_key,
            "command_id": item.command_id,
            "projector": item.projector,
            "position": item.position,
            "reason": item.reason,
            "at": item.at,
            "kind": "",
            "reference": "",
            "attempts": 0,
            "attempts_total": 0,
            "first_at": item.at,
        }
        if item.kind == "command":
            history = await outbox.get(item.command_id)
            if history is not None:
                tries = [a for a in history.attempts if a.outcome != "requeued"]
                since = 0
                for a in history.attempts:
                    since = 0 if a.outcome == "requeued" else since + 1
                row.update(
                    kind=history.command.kind,
                    reference=history.command.reference,
                    attempts=since,
                    attempts_total=len(tries),
                    first_at=tries[0].at.isoformat() if tries else item.at,
                )
        out.append(row)
    return out


async def settlement_rows(log: EventLog) -> list[dict[str, Any]]:
    """Newest settlements first: deposit, currency, dates, and per QAD document (invoice or
    credit note, journal) its reference, state and QAD document id when posted."""
    events = await log.query(
        "SELECT key, payload FROM events WHERE type = 'SettlementFetched' "
        "ORDER BY position DESC LIMIT ?",
        (MAX_ROWS,),
    )
    outbox = Outbox(log)
    has_outbox = await outbox.has_tables()
    rows: dict[str, dict[str, Any]] = {}
    for key, payload in events:
        if key in rows:
            continue  # seen again (a re-fetch): the newest is shown
        s = orjson.loads(payload)
        rows[key] = {
            "settlement_id": str(s.get("settlement_id") or key),
            "currency": str(s.get("currency") or ""),
            "deposit": str(s.get("total_amount") or "0"),  # Decimal text, never a float
            "start": str(s.get("start") or "")[:10],
            "end": str(s.get("end") or "")[:10],
            "deposit_date": str(s.get("deposit_date") or "")[:10],
            "documents": [],
            "parked": "",
        }
    if has_outbox and rows:
        marks = ",".join("?" * len(rows))
        docs = await log.query(
            "SELECT c.record_key, c.kind, c.reference, coalesce(a.outcome, 'new'), "
            "(SELECT max(document) FROM attempts d WHERE d.command_id = c.command_id) "
            f"FROM commands c LEFT JOIN attempts a ON {NEWEST} "
            f"WHERE c.kind IN (?, ?) AND c.record_key IN ({marks}) ORDER BY c.seq",
            (*SETTLEMENT_KINDS, *rows),
        )
        for key, kind, reference, state, document in docs:
            rows[key]["documents"].append(
                {
                    "kind": "invoice" if kind == "qad.invoice.create" else "journal",
                    "reference": reference,
                    "state": state,
                    "document": document or "",
                }
            )
        for item in await outbox.parked():
            if item.kind == "record" and item.record_key in rows:
                rows[item.record_key]["parked"] = item.reason
    # The last `reconcile` run's (engine/ops/reconcile_record): one bookmark, read through the port.
    checked = await recorded_outcomes(log)
    for key, row in rows.items():
        states = {d["state"] for d in row["documents"]}
        row["posted"] = bool(states) and states <= {"ok", "exists"}
        row["reconciled"] = checked.get(row["settlement_id"]) or checked.get(key)
    return list(rows.values())


async def inventory_drift(log: EventLog) -> list[dict[str, Any]]:
    """Per QAD item and site, the newest stock alignment: what the inventory projection
    expects (Amazon's quantity), and what the last dispatch found in QAD (the handler's text:
    "drift +3 (QAD 7, Amazon 10)", "in line", an adjustment posted)."""
    outbox = Outbox(log)
    if not await outbox.has_tables():
        return []
    rows = await log.query(
        f"SELECT {CMD_COLS}, coalesce(a.outcome, 'new'), a.response, a.at "
        f"FROM commands c LEFT JOIN attempts a ON {NEWEST} "
        "WHERE c.kind = 'qad.inventory.align' ORDER BY c.seq DESC LIMIT ?",
        (MAX_ROWS * 4,),
    )
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        cmd = command_from_row(row)
        b = cmd.body
        where = (str(b.get("item")), str(b.get("site")))
        if where in newest:
            continue
        response = str(row[-2] or "")
        newest[where] = {
            "sku": str(b.get("sku") or cmd.record_key),
            "item": where[0],
            "site": where[1],
            "marketplace_id": str(b.get("marketplace_id") or ""),
            "expected": str(b.get("target")),
            "mode": str(b.get("mode") or "report"),
            "state": row[-3],
            "found": response,
            "at": row[-1] or "",
            "drift": response.startswith("drift"),
        }
    items = sorted(newest.values(), key=lambda r: (not r["drift"], r["item"], r["site"]))
    return items[:MAX_ROWS]
