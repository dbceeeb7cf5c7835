"""``reconcile``: every settlement in the log against the documents QAD actually holds.

Expected side: the settlements in the event log, run through the settlements projector (pure;
the same rules that posted them, so credit notes and month-split journals are expected exactly
as they are posted), never the outbox: what the engine *meant* to send is not evidence.
Found side: QAD, read back through the QAD client's look-ups by reference (the invoice browse:
customer, currency, amount, type; the journal browse: posting date and total debit).

Per settlement: the deposit (``total-amount``), each expected document ok / missing /
different, and the settlement's status (``parked`` when the projector refuses it: unreconciled,
no customer). Per fee type: the journal's amounts per GL account and line kind. Per
marketplace: settlements, deposits and how many are not ok. Limit [I]: QAD's journal browse has
one row per entry, so a journal is compared by its total debit and date, not line by line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from engine.adapters.qad.client import QadClient
from engine.config import Config
from engine.dispatch.limits import LimiterRegistry
from engine.log.sqlite import SQLiteEventLog
from engine.ops.credentials import build_qad_settings
from engine.ops.replay_verify import TargetPort
from engine.ops.status import existing_db
from engine.projectors.mapping import Mapper
from engine.projectors.settlements import SettlementsProjector

__all__ = [
    "DocCheck",
    "ReconcileReport",
    "SettlementCheck",
    "expected_settlements",
    "reconcile",
    "reconcile_config",
]

ZERO = Decimal(0)
OK, MISSING, DIFFERENT, PARKED = "ok", "missing", "different", "parked"


@dataclass(slots=True)
class DocCheck:
    """One QAD document expected for a settlement and what QAD holds under its reference."""

    kind: str  # "invoice" | "credit_note" | "journal"
    reference: str
    expected: dict[str, str]
    found: dict[str, str] | None = None
    status: str = MISSING

    @property
    def differences(self) -> list[str]:
        if self.found is None:
            return []
        return [k for k, v in self.expected.items() if self.found.get(k) != v]


@dataclass(slots=True)
class SettlementCheck:
    settlement_id: str
    currency: str
    deposit: Decimal
    start: str
    end: str
    deposit_date: str
    marketplace: str
    docs: list[DocCheck] = field(default_factory=list)
    parked: str = ""  # the projector's reason when it posts nothing
    # (account, line kind) -> signed amount (credit positive) of the expected journal(s)
    fees: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.parked:
            return PARKED
        states = {d.status for d in self.docs}
        return DIFFERENT if DIFFERENT in states else MISSING if MISSING in states else OK


@dataclass(slots=True)
class ReconcileReport:
    settlements: list[SettlementCheck] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(s.status == OK for s in self.settlements)

    def counts(self) -> dict[str, int]:
        out = {OK: 0, MISSING: 0, DIFFERENT: 0, PARKED: 0}
        for s in self.settlements:
            out[s.status] += 1
        return out

    def deposits(self) -> dict[str, Decimal]:
        """Σ deposits per currency."""
        out: dict[str, Decimal] = {}
        for s in self.settlements:
            out[s.currency] = out.get(s.currency, ZERO) + s.deposit
        return out

    def fee_types(self) -> dict[tuple[str, str, str], Decimal]:
        """(currency, account, line kind) -> Σ signed amount over every settlement."""
        out: dict[tuple[str, str, str], Decimal] = {}
        for s in self.settlements:
            for (account, label), amount in s.fees.items():
                key = (s.currency, account, label)
                out[key] = out.get(key, ZERO) + amount
        return dict(sorted(out.items()))

    def marketplaces(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(marketplace, currency) -> settlements, deposits, not ok."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for s in self.settlements:
            row = out.setdefault(
                (s.marketplace, s.currency), {"settlements": 0, "deposits": ZERO, "not_ok": 0}
            )
            row["settlements"] += 1
            row["deposits"] += s.deposit
            row["not_ok"] += s.status != OK
        return dict(sorted(out.items()))


def _n(value: Any) -> str:
    """Decimal text without trailing zeros ("12.50" == "12.5"); "?" if not a number."""
    try:
        return format(Decimal(str(value if value not in (None, "") else 0)).normalize(), "f")
    except ArithmeticError:
        return "?"


def _expected_docs(check: SettlementCheck, commands: list[Any]) -> None:
    for c in commands:
        body: dict[str, Any] = c.body
        if c.kind == "qad.invoice.create":
            kind = "credit_note" if body.get("kind") == "credit_note" else "invoice"
            want = {
                "customer": str(body.get("customer")),
                "currency": str(body.get("currency")),
                "amount": _n(body.get("amount")),
            }
            if kind == "credit_note":
                want["type"] = "CREDITNOTE"
            check.docs.append(DocCheck(kind, c.reference, want))
        elif c.kind == "qad.journal.create":
            debit = ZERO
            for ln in body.get("lines", ()):
                d, cr = Decimal(str(ln.get("debit") or 0)), Decimal(str(ln.get("credit") or 0))
                debit += d
                # Without the settlement id ("Amazon settlement 123 deposit"): one fee type.
                label = " ".join(str(ln.get("description") or "").split(check.settlement_id))
                key = (str(ln.get("account")), " ".join(label.split()))
                check.fees[key] = check.fees.get(key, ZERO) + cr - d
            want = {"posting_date": str(body.get("posting_date", ""))[:10], "debit": _n(debit)}
            check.docs.append(DocCheck("journal", c.reference, want))


async def expected_settlements(
    log: SQLiteEventLog, cfg: Config, since: date | None = None
) -> list[SettlementCheck]:
    """Fold the settlement events through the projector: the documents each one should have."""
    proj = SettlementsProjector(Mapper(cfg.mapping))
    states: dict[str, Any] = {}
    out: dict[str, SettlementCheck] = {}
    async for ev in log.read(streams=list(proj.streams)):
        keys = proj.state_keys(ev)
        p = proj.project(ev, {k: states[k] for k in keys if k in states})
        for k, v in p.state.items():
            if v is None:
                states.pop(k, None)
            else:
                states[k] = v
        if ev.type != "SettlementFetched" or (ev.key in out and not out[ev.key].parked):
            continue  # chunks, quarantined documents, a settlement seen again
        s = ev.payload
        names: dict[str, int] = {}
        for r in s.get("rows") or ():
            name = str(r.get("marketplace_name") or "")
            if name:
                names[name] = names.get(name, 0) + 1
        check = SettlementCheck(
            settlement_id=str(s.get("settlement_id") or ev.key),
            currency=str(s.get("currency") or ""),
            deposit=Decimal(str(s.get("total_amount") or 0)),
            start=str(s.get("start") or "")[:10],
            end=str(s.get("end") or "")[:10],
            deposit_date=str(s.get("deposit_date") or "")[:10],
            marketplace=max(names, key=lambda n: names[n]) if names else "(none)",
        )
        _expected_docs(check, p.commands)
        if p.parks and not p.commands:
            check.parked = "; ".join(pk.reason for pk in p.parks)
        out[ev.key] = check
    checks = sorted(out.values(), key=lambda c: (c.end, c.settlement_id))
    if since is not None:
        checks = [c for c in checks if c.end >= since.isoformat()]
    return checks


def _found_invoice(doc: dict[str, Any], want: dict[str, str]) -> dict[str, str]:
    found = {
        "customer": str(doc.get("customer")),
        "currency": str(doc.get("currency")),
        "amount": _n(doc.get("amount")),
    }
    if "type" in want or str(doc.get("type") or "").upper() == "CREDITNOTE":
        found["type"] = str(doc.get("type") or "").upper()
    return found


async def reconcile(
    log: SQLiteEventLog,
    cfg: Config,
    qad: TargetPort,
    *,
    since: date | None = None,
    concurrency: int = 4,
    before_request: Callable[[], Any] | None = None,
) -> ReconcileReport:
    """Every expected document looked up in QAD by reference and compared."""
    report = ReconcileReport(await expected_settlements(log, cfg, since))
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(doc: DocCheck) -> None:
        async with sem:
            if before_request is not None:
                await before_request()
            if doc.kind == "journal":
                j = await qad.find_journal_entry_by_reference(doc.reference)
                found = None if j is None else {
                    "posting_date": str(j.get("posting_date", ""))[:10],
                    "debit": _n(j.get("debit")),
                }  # fmt: skip
            else:
                inv = await qad.find_customer_invoice_by_reference(doc.reference)
                found = None if inv is None else _found_invoice(inv, doc.expected)
        doc.found = found
        doc.status = MISSING if found is None else OK if found == doc.expected else DIFFERENT

    await asyncio.gather(*(one(d) for s in report.settlements for d in s.docs))
    return report


async def reconcile_config(
    cfg: Config,
    *,
    vault_path: Path | None = None,
    demo: bool = False,
    since: date | None = None,
) -> ReconcileReport:
    """``reconcile`` for a config: its event log (read-only, beside a running engine) and its
    QAD tenant through the client (credentials from the vault, or the simulator's demo login)."""
    settings = build_qad_settings(cfg, vault_path=vault_path, demo=demo)
    limiters = LimiterRegistry.from_config(cfg.dispatch)
    async with (
        SQLiteEventLog.open(existing_db(cfg.engine.db), readonly=True) as log,
        aiohttp.ClientSession() as session,
        QadClient(session, settings) as qad,
    ):
        return await reconcile(
            log,
            cfg,
            qad,
            since=since,
            concurrency=cfg.dispatch.concurrency,
            before_request=lambda: limiters.acquire("qad"),
        )
