"""Prove a replay: compare what the original run posted with what the target tenant holds.

``expected_documents`` folds the original outbox into one expected document per reference (a
sales order with its applied updates, invoice, journal, last stock alignment); ``verify`` looks
each reference up in the target and reports ok / missing / different per kind.

What is compared is what the QAD client's look-ups return (engine-side keys, never QAD field
names): a sales order's customer, currency, lines and whether it is cancelled (the lines of a
cancelled order are not compared: the cancel policy zeroes, closes or deletes them); an
invoice's customer, currency and amount (the invoice browse has no lines); a journal entry's
posting date and total debit (one browse row per entry); the on-hand of each aligned item.

The original outbox is read from the source log on either backend (SQLite file or PostgreSQL);
the fold's working copy is a ``Scratch`` (in-memory SQLite) whatever the source is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson

from engine.commands.outbox import DONE_OUTCOMES, Outbox
from engine.log.ports import EventLog
from engine.log.scratch import Scratch

__all__ = [
    "KINDS",
    "Expected",
    "KindResult",
    "TargetPort",
    "VerifyReport",
    "expected_documents",
    "iter_expected",
    "verify",
    "verify_log",
]

KINDS = ("sales_order", "invoice", "journal", "stock")


class TargetPort(Protocol):
    """The look-ups ``verify`` needs (engine.adapters.qad.QadClient has them)."""

    async def find_sales_order_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def find_customer_invoice_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def find_journal_entry_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def inventory_balance(self, item: str, site: str) -> Any: ...


# -- expected documents from the original outbox ------------------------------------------------


@dataclass(slots=True)
class Expected:
    """What the original run put into QAD, per reference kind (normalised for comparison)."""

    docs: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: {} for k in KINDS})
    unfinished: int = 0  # QAD commands the original has not finished (pending/parked)


def _n(value: Any) -> str:
    """Decimal text without trailing zeros ("12.50" == "12.5"); "?" if not a number."""
    try:
        return format(Decimal(str(value if value not in (None, "") else 0)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return "?"


_ORIGINAL = (
    "SELECT c.seq, c.kind, c.reference, c.body, a.outcome FROM commands c LEFT JOIN attempts a "
    "ON a.id = (SELECT max(id) FROM attempts WHERE command_id = c.command_id) "
    "WHERE c.kind LIKE 'qad.%' AND c.seq > ? ORDER BY c.seq LIMIT ?"
)
_PAGE = 5000


def _fold(docs: dict[str, dict[str, Any]], kind: str, reference: str, body: dict[str, Any]) -> None:
    """Fold one successfully dispatched command into the documents it made."""
    orders, invoices, journals, stock = (docs[k] for k in KINDS)
    if kind == "qad.sales_order.create":
        orders[reference] = {
            "customer": str(body.get("customer")),
            "currency": str(body.get("currency") or "USD"),
            "cancelled": False,
            "lines": {
                int(ln.get("line") or i): (str(ln["item"]), _n(ln["quantity"]), _n(ln["price"]))
                for i, ln in enumerate(body.get("lines", ()), 1)
            },
        }
    elif kind == "qad.sales_order.update" and reference in orders:
        so = orders[reference]
        for ch in body.get("lines", ()):
            item, qty, price = so["lines"].get(int(ch["line"]), ("?", "0", "0"))
            if ch.get("quantity") is not None:
                qty = _n(ch["quantity"])
            if ch.get("price") is not None:
                price = _n(ch["price"])
            so["lines"][int(ch["line"])] = (item, qty, price)
        for ln in body.get("add", ()):  # split/charge lines added once prices arrived
            so["lines"].setdefault(
                int(ln["line"]), (str(ln["item"]), _n(ln["quantity"]), _n(ln["price"]))
            )
        so["cancelled"] = so["cancelled"] or bool(body.get("cancel"))
    elif kind == "qad.invoice.create":
        invoices[reference] = {
            "customer": str(body.get("customer")),
            "currency": str(body.get("currency") or "USD"),
            "amount": _n(body.get("amount")),
        }
    elif kind == "qad.journal.create":
        debit = sum((Decimal(str(ln.get("debit") or 0)) for ln in body["lines"]), Decimal(0))
        journals[reference] = {
            "posting_date": str(body.get("posting_date", ""))[:10],
            "debit": _n(debit),
        }
    elif kind == "qad.inventory.align" and body.get("mode", "report") == "adjust":
        # Alignment is a difference against the tenant's on-hand, so the adjustments of two
        # tenants may differ; what must match is the stock it aligned to (the last target).
        stock[f"{body['item']}@{body['site']}"] = {"on_hand": _n(body.get("target"))}


async def iter_expected(
    source: EventLog, scratch: Scratch, counts: Expected
) -> AsyncGenerator[tuple[str, str, dict[str, Any]], None]:
    """(kind, reference, expected document) for every document of the original run, without
    holding them all: the original's QAD commands are copied into ``scratch`` page by page,
    then folded one reference at a time (in seq order within a reference, as the whole-outbox
    fold did); stock (one entry per item/site, not per order) comes last. ``counts.unfinished``
    is filled as it goes."""
    if not await Outbox(source).has_tables():
        return
    scratch.script(
        "CREATE TABLE original (seq INTEGER PRIMARY KEY, kind TEXT, reference TEXT, body BLOB);"
    )
    after = 0
    while rows := await source.query(_ORIGINAL, (after, _PAGE)):
        after = rows[-1][0]
        done = [r[:4] for r in rows if r[4] in DONE_OUTCOMES]
        counts.unfinished += len(rows) - len(done)
        scratch.executemany("INSERT INTO original VALUES (?, ?, ?, ?)", done)
    scratch.execute("CREATE INDEX original_by_ref ON original (reference, seq)")
    stock: dict[str, Any] = {}
    docs: dict[str, dict[str, Any]] = {**{k: {} for k in KINDS}, "stock": stock}
    current: str | None = None
    for chunk in scratch.stream(
        "SELECT kind, reference, body FROM original ORDER BY reference, seq"
    ):
        for kind, reference, blob in chunk:
            if reference != current:
                for k in KINDS[:3]:
                    for ref, want in docs[k].items():
                        yield k, ref, want
                docs = {**{k: {} for k in KINDS}, "stock": stock}
                current = reference
            _fold(docs, str(kind), str(reference), orjson.loads(blob))
    for k in KINDS[:3]:
        for ref, want in docs[k].items():
            yield k, ref, want
    for ref, want in sorted(stock.items()):
        yield "stock", ref, want


async def expected_documents(source: EventLog) -> Expected:
    """Fold the commands the original dispatched successfully into the documents it made
    (all in memory: small logs and tests; ``verify_log`` streams)."""
    out = Expected()
    with Scratch() as scratch:
        async for kind, ref, want in iter_expected(source, scratch, out):
            out.docs[kind][ref] = want
    return out


# -- verification --------------------------------------------------------------------------------


@dataclass(slots=True)
class KindResult:
    ok: int = 0
    missing: int = 0
    different: int = 0


@dataclass(slots=True)
class VerifyReport:
    """Per reference kind: documents found equal / missing / different in the target."""

    kinds: dict[str, KindResult] = field(default_factory=lambda: {k: KindResult() for k in KINDS})
    examples: list[str] = field(default_factory=list)
    unfinished_in_original: int = 0

    @property
    def clean(self) -> bool:
        return all(r.missing == 0 and r.different == 0 for r in self.kinds.values())

    def note(self, text: str, limit: int = 20) -> None:
        if len(self.examples) < limit:
            self.examples.append(text)

    def table(self) -> str:
        head = f"{'reference kind':<16}{'ok':>8}{'missing':>9}{'different':>11}"
        rows = [head, "-" * len(head)]
        for kind, r in self.kinds.items():
            rows.append(f"{kind:<16}{r.ok:>8}{r.missing:>9}{r.different:>11}")
        return "\n".join(rows)


def _actual_sales_order(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "customer": str(doc.get("customer")),
        "currency": str(doc.get("currency") or "USD"),
        "cancelled": bool(doc.get("cancelled")),
        # The client lists lines in position order; QAD's own numbers may skip (a line flow
        # cut off after initialize keeps its numbers reserved), so lines compare by position.
        "lines": {
            pos: (str(ln.get("item")), _n(ln.get("quantity")), _n(ln.get("price")))
            for pos, ln in enumerate(doc.get("lines") or [], 1)
        },
    }


def _actual_invoice(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "customer": str(doc.get("customer")),
        "currency": str(doc.get("currency") or "USD"),
        "amount": _n(doc.get("amount")),
    }


def _actual_journal(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"posting_date": str(doc.get("posting_date", ""))[:10], "debit": _n(doc.get("debit"))}


def _comparable(
    kind: str, want: dict[str, Any], have: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sales orders: the original's lines by position (as the target's are); a cancelled
    order's lines are whatever the cancel policy left, so only the rest is compared."""
    if kind != "sales_order":
        return want, have
    lines = dict(enumerate((v for _, v in sorted(want["lines"].items())), 1))
    want = {**want, "lines": lines}
    if want.get("cancelled"):
        return (
            {k: v for k, v in want.items() if k != "lines"},
            {k: v for k, v in have.items() if k != "lines"},
        )
    return want, have


async def verify(
    expected: Expected,
    target: TargetPort,
    *,
    concurrency: int = 4,
    before_request: Callable[[], Any] | None = None,
) -> VerifyReport:
    """Look every expected document up in the target by reference and compare its content."""

    async def items() -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        for kind in KINDS:
            for ref, want in expected.docs[kind].items():
                yield kind, ref, want

    report = VerifyReport(unfinished_in_original=expected.unfinished)
    await _check_all(items(), target, report, concurrency, before_request)
    return report


async def verify_log(
    source: EventLog,
    target: TargetPort,
    *,
    concurrency: int = 4,
    before_request: Callable[[], Any] | None = None,
) -> VerifyReport:
    """``verify`` of the original run's documents, streamed (``iter_expected``): memory stays
    flat in the log's size."""
    counts = Expected()
    report = VerifyReport()
    with Scratch() as scratch:
        async with aclosing(iter_expected(source, scratch, counts)) as docs:
            await _check_all(docs, target, report, concurrency, before_request)
    report.unfinished_in_original = counts.unfinished
    return report


async def _check_all(
    items: AsyncIterator[tuple[str, str, dict[str, Any]]],
    target: TargetPort,
    report: VerifyReport,
    concurrency: int,
    before_request: Callable[[], Any] | None,
) -> None:
    """Check every item, at most ``concurrency`` look-ups at once and a bounded number of
    checks in flight (never one task per document of the whole log)."""
    limit = max(1, concurrency)
    sem = asyncio.Semaphore(limit)

    async def fetch(kind: str, ref: str) -> dict[str, Any] | None:
        if before_request is not None:
            await before_request()
        if kind == "sales_order":
            doc = await target.find_sales_order_by_reference(ref)
            return None if doc is None else _actual_sales_order(doc)
        if kind == "invoice":
            doc = await target.find_customer_invoice_by_reference(ref)
            return None if doc is None else _actual_invoice(doc)
        if kind == "journal":
            doc = await target.find_journal_entry_by_reference(ref)
            return None if doc is None else _actual_journal(doc)
        item, site = ref.rsplit("@", 1)
        balance = await target.inventory_balance(item, site)
        return {"on_hand": _n(balance.on_hand if balance is not None else 0)}

    async def one(kind: str, ref: str, want: dict[str, Any]) -> None:
        async with sem:
            have = await fetch(kind, ref)
        result = report.kinds[kind]
        if have is not None:
            want, have = _comparable(kind, want, have)
        if have is None:
            result.missing += 1
            report.note(f"{kind} {ref}: missing in the target")
        elif have != want:
            result.different += 1
            fields = sorted(k for k in want if have.get(k) != want[k])
            report.note(
                f"{kind} {ref}: {', '.join(fields)} differ: "
                + "; ".join(f"{f} expected {want[f]!r}, got {have.get(f)!r}" for f in fields)
            )
        else:
            result.ok += 1

    running: set[asyncio.Task[None]] = set()
    try:
        async for kind, ref, want in items:
            running.add(asyncio.ensure_future(one(kind, ref, want)))
            if len(running) >= limit * 4:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a failed look-up fails the verification, as before
        if running:
            await asyncio.gather(*running)
            running = set()
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
