"""``reconcile``: every settlement in the log against the documents QAD actually holds.

Expected side: the settlements in the event log, run through the settlements projector (pure;
the same rules that posted them, so credit notes and month-split journals are expected exactly
as they are posted), never the outbox: what the engine *meant* to send is not evidence.
Found side: QAD, read back through the QAD client's look-ups by reference (the invoice browse:
customer, currency, amount, type; the journal browse: posting date and total debit; the
posting-line browse: each journal line's account, debit, credit and description; the sales
order browse for each settled order).

Per settlement: the deposit (``total-amount``), each expected document ok / missing /
different, the journal line by line per account and fee type (engine/ops/reconcile_lines.py),
and the settlement's status (``parked`` when the projector refuses it: unreconciled, no
customer). Per order: each Order / refund row group against the QAD sales order of that Amazon
order, matched / variance / no_invoice (engine/ops/reconcile_orders.py). Per fee type: the
journals' amounts per GL account and line kind. Per marketplace: settlements, deposits and how
many are not ok. Reserve: held and released per settlement and the running balance per
currency. The report is clean only when every document, journal line and order agrees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from engine.adapters.qad.client import QadClient
from engine.config import Config
from engine.dispatch.limits import LimiterRegistry
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.ops.credentials import build_qad_settings
from engine.ops.reconcile_lines import LineCheck, compare_lines, expected_lines, found_lines
from engine.ops.reconcile_orders import MATCHED, NO_INVOICE, VARIANCE, OrderCheck, RowDigest
from engine.ops.status import existing_log
from engine.projectors.mapping import Mapper
from engine.projectors.order_money import MoneyRules
from engine.projectors.settlements import SettlementsProjector

__all__ = [
    "DocCheck",
    "ReconcilePort",
    "ReconcileReport",
    "SettlementCheck",
    "expected_settlements",
    "reconcile",
    "reconcile_config",
]

ZERO = Decimal(0)
OK, MISSING, DIFFERENT, PARKED = "ok", "missing", "different", "parked"


class ReconcilePort(Protocol):
    """The QAD look-ups ``reconcile`` reads (engine.adapters.qad.QadClient has them)."""

    async def find_sales_order_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def find_customer_invoice_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def find_journal_entry_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def find_journal_lines_by_reference(self, reference: str) -> list[dict[str, Any]]: ...


@dataclass(slots=True)
class DocCheck:
    """One QAD document expected for a settlement and what QAD holds under its reference."""

    kind: str  # "invoice" | "credit_note" | "journal"
    reference: str
    expected: dict[str, str]
    found: dict[str, str] | None = None
    status: str = MISSING
    # A journal's lines: the expected ones (credit - debit per (account, description)) and,
    # once read from QAD, one check per key on either side.
    want_lines: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    lines: list[LineCheck] = field(default_factory=list)

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
    orders: list[OrderCheck] = field(default_factory=list)
    reserve_held: Decimal = ZERO
    reserve_released: Decimal = ZERO
    reserve_balance: Decimal = ZERO  # running, per currency, after this settlement
    # What the projector flagged (open charge-clearing pair, Lending unsplit, suspense, no
    # marketplace): not a QAD difference, so the report stays clean, but the accountant sees it.
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The settlement's documents: parked / different / missing / ok."""
        if self.parked:
            return PARKED
        states = {d.status for d in self.docs}
        return DIFFERENT if DIFFERENT in states else MISSING if MISSING in states else OK

    @property
    def orders_ok(self) -> bool:
        return all(o.status == MATCHED for o in self.orders)


@dataclass(slots=True)
class ReconcileReport:
    settlements: list[SettlementCheck] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(s.status == OK and s.orders_ok for s in self.settlements)

    def order_counts(self) -> dict[str, int]:
        out = {MATCHED: 0, VARIANCE: 0, NO_INVOICE: 0}
        for s in self.settlements:
            for o in s.orders:
                out[o.status] += 1
        return out

    def reserve_balances(self) -> dict[str, Decimal]:
        """The reserve Amazon holds at the end, per currency (Σ held - Σ released)."""
        out: dict[str, Decimal] = {}
        for s in self.settlements:
            out[s.currency] = out.get(s.currency, ZERO) + s.reserve_held - s.reserve_released
        return out

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
            check.docs.append(
                DocCheck("journal", c.reference, want, want_lines=expected_lines(body))
            )


async def expected_settlements(
    log: EventLog, cfg: Config, since: date | None = None
) -> list[SettlementCheck]:
    """Fold the settlement events through the projector: the documents each one should have,
    its orders and its reserve movement (reserve balances run over every settlement, also
    those before ``since``)."""
    mapper = Mapper(cfg.mapping)
    proj = SettlementsProjector(mapper)
    rules = MoneyRules.of(cfg.orders)
    states: dict[str, Any] = {}
    chunks: dict[tuple[str, str], RowDigest] = {}  # (key, report id) -> digest of its chunks
    out: dict[str, SettlementCheck] = {}
    async for ev in log.read(streams=list(proj.streams)):
        keys = proj.state_keys(ev)
        p = proj.project(ev, {k: states[k] for k in keys if k in states})
        for k, v in p.state.items():
            if v is None:
                states.pop(k, None)
            else:
                states[k] = v
        s = ev.payload
        if ev.type == "SettlementRows":
            digest = chunks.setdefault((ev.key, str(s.get("report_id") or "")), RowDigest())
            digest.add(s.get("rows") or (), mapper)
            continue
        if ev.type != "SettlementFetched" or (ev.key in out and not out[ev.key].parked):
            continue  # quarantined documents, a settlement seen again
        if "rows" in s:
            digest = RowDigest()
            digest.add(s.get("rows") or (), mapper)
        else:
            digest = chunks.pop((ev.key, str(s.get("report_id") or "")), RowDigest())
        names = digest.names
        sid = str(s.get("settlement_id") or ev.key)
        check = SettlementCheck(
            settlement_id=sid,
            currency=str(s.get("currency") or ""),
            deposit=Decimal(str(s.get("total_amount") or 0)),
            start=str(s.get("start") or "")[:10],
            end=str(s.get("end") or "")[:10],
            deposit_date=str(s.get("deposit_date") or "")[:10],
            marketplace=max(names, key=lambda n: names[n]) if names else "(none)",
            reserve_held=digest.reserve_held,
            reserve_released=digest.reserve_released,
        )
        _expected_docs(check, p.commands)
        check.notes = [note for f in p.flags if (note := flag_note(f.type, f.payload))]
        if p.parks and not p.commands:
            check.parked = "; ".join(pk.reason for pk in p.parks)
        else:
            check.orders = digest.order_checks(sid, check.currency, rules, mapper)
        out[ev.key] = check
    checks = sorted(out.values(), key=lambda c: (c.end, c.settlement_id))
    balance: dict[str, Decimal] = {}
    for c in checks:
        balance[c.currency] = balance.get(c.currency, ZERO) + c.reserve_held - c.reserve_released
        c.reserve_balance = balance[c.currency]
    if since is not None:
        checks = [c for c in checks if c.end >= since.isoformat()]
    return checks


def flag_note(kind: str, p: dict[str, Any]) -> str:
    """One line for a settlement flag ("" for a kind reconcile does not show)."""
    if kind == "SettlementClearingUnmatched":
        legs = ", ".join(f"{k} {v}" for k, v in p.get("lines", {}).items())
        return (
            f"charge clearing open by {p.get('open_amount')} on {p.get('clearing_pair_account')} "
            f"(a Payable to Amazon without its matching charge line: {legs})"
        )
    if kind == "SettlementLoanUnsplit":
        return (
            f"Amazon Lending booked whole to {p.get('loan_account')}: "
            "import the loan statement to move the interest out (import loan-statement)"
        )
    if kind == "SettlementLinesToSuspense":
        return f"lines booked to suspense {p.get('suspense_account')}: {p.get('lines')}"
    if kind == "SettlementMarketplaceUnknown":
        return f"no marketplace named: posted to customer {p.get('customer')}"
    return ""


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
    log: EventLog,
    cfg: Config,
    qad: ReconcilePort,
    *,
    since: date | None = None,
    concurrency: int = 4,
    before_request: Callable[[], Any] | None = None,
) -> ReconcileReport:
    """Every expected document, journal line and settled order looked up in QAD by reference
    and compared."""
    report = ReconcileReport(await expected_settlements(log, cfg, since))
    sem = asyncio.Semaphore(max(1, concurrency))

    async def call(fn: Callable[[str], Awaitable[Any]], reference: str) -> Any:
        async with sem:
            if before_request is not None:
                await before_request()
            return await fn(reference)

    async def one(doc: DocCheck) -> None:
        if doc.kind == "journal":
            j = await call(qad.find_journal_entry_by_reference, doc.reference)
            found = None if j is None else {
                "posting_date": str(j.get("posting_date", ""))[:10],
                "debit": _n(j.get("debit")),
            }  # fmt: skip
            agrees = True
            if found is not None:
                have = found_lines(await call(qad.find_journal_lines_by_reference, doc.reference))
                agrees, doc.lines = compare_lines(doc.want_lines, have)
        else:
            inv = await call(qad.find_customer_invoice_by_reference, doc.reference)
            found = None if inv is None else _found_invoice(inv, doc.expected)
            agrees = True
        doc.found = found
        doc.status = (
            MISSING if found is None else OK if found == doc.expected and agrees else DIFFERENT
        )

    # One sales-order look-up per Amazon order, however many settlements name it.
    orders: dict[str, list[OrderCheck]] = {}
    for st in report.settlements:
        for o in st.orders:
            orders.setdefault(o.order_id, []).append(o)

    async def order(order_id: str, checks: list[OrderCheck]) -> None:
        found = await call(qad.find_sales_order_by_reference, order_id)
        for c in checks:
            c.judge(found)

    await asyncio.gather(
        *(one(d) for s in report.settlements for d in s.docs),
        *(order(oid, checks) for oid, checks in orders.items()),
    )
    return report


async def reconcile_config(
    cfg: Config,
    *,
    vault_path: Path | None = None,
    demo: bool = False,
    since: date | None = None,
) -> ReconcileReport:
    """``reconcile`` for a config: its event log (read-only, beside a running engine; an
    SQLite file or a PostgreSQL URL) and its QAD tenant through the client (credentials from
    the vault, or the simulator's demo login)."""
    settings = build_qad_settings(cfg, vault_path=vault_path, demo=demo)
    limiters = LimiterRegistry.from_config(cfg.dispatch)
    async with (
        open_event_log(existing_log(cfg.engine.db), readonly=True) as log,
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
