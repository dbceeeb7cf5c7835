"""Replay the whole event log into another (fresh) QAD entity, then prove the books match.

``replay --to-tenant URL --entity E`` (engine/cli/replay.py) is the thin front of this module:

1. ``derive_qad_commands``: every QAD command re-derived from the log from position 0 with the
   pure projectors (as ``rebuild`` does, in memory, no side effects). Listing patches are not
   replayed: they target Amazon, not the QAD entity.
2. ``seed``: those commands go into the replay's OWN outbox, a SQLite file beside the db
   (``replay_outbox_path``), so the original outbox and audit trail are never touched. Command ids
   are deterministic, so seeding again adds nothing: an interrupted replay resumes where it
   stopped, a finished one posts nothing when rerun (and the QAD client looks a reference up
   before creating, so even a lost replay file cannot duplicate a document).
3. The ordinary Dispatcher posts them to the target with that outbox (retries, parking, audit
   trail of the replay in the replay file). A rerun re-queues what the previous run parked.
4. ``verify``: for every document the ORIGINAL run posted successfully (per its outbox), the
   expected content (sales order create folded with its applied updates, invoice, journal, the
   last stock alignment per item/site) is compared with what the target holds for the same
   reference: ok / missing / different per reference kind.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import orjson

from engine.dispatch.commands import Command
from engine.dispatch.dispatcher import Dispatcher, RunCounts
from engine.dispatch.outbox import DONE_OUTCOMES, Outbox
from engine.errors import ConfigError
from engine.log.sqlite import SQLiteEventLog
from engine.projectors.base import Projector
from engine.projectors.runner import project_from_start
from engine.security.urls import validate_entity_path, validate_tenant_url

__all__ = [
    "KINDS",
    "Expected",
    "KindResult",
    "ReplayResult",
    "ReplayTarget",
    "TargetPort",
    "VerifyReport",
    "derive_qad_commands",
    "expected_documents",
    "replay_outbox_path",
    "replay_to_target",
    "seed",
    "verify",
]

KINDS = ("sales_order", "invoice", "journal", "stock")
_ENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")

Progress = Callable[[str], None]


class TargetPort(Protocol):
    """The look-ups ``verify`` needs (engine.adapters.qad.QadClient has them)."""

    async def find_sales_order_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def find_customer_invoice_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def find_journal_entry_by_reference(self, reference: str) -> dict[str, Any] | None: ...
    async def inventory_balance(self, item: str, site: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class ReplayTarget:
    """A validated target: tenant URL (same rules as qad.tenant_url) and entity code."""

    tenant_url: str
    entity: str

    @classmethod
    def parse(cls, tenant_url: str, entity: str) -> ReplayTarget:
        url = validate_tenant_url(tenant_url, what="--to-tenant")
        # An entity code ends up in request bodies, never in a path, but the same rules keep
        # traversal/control characters out; QAD entity codes are short alphanumeric codes.
        validate_entity_path(entity, what="--entity")
        if not _ENTITY.match(entity):
            raise ConfigError(
                f"--entity {entity!r} is not a QAD entity code (letters, digits, '.', '_', '-')"
            )
        return cls(url, entity)

    @property
    def key(self) -> str:
        """Short stable hash naming this target's replay outbox."""
        return hashlib.blake2b(
            f"{self.tenant_url}\n{self.entity}".encode(), digest_size=5
        ).hexdigest()


def replay_outbox_path(db: Path, target: ReplayTarget) -> Path:
    """``<db>.replay-<hash of url+entity>.sqlite``: one resumable outbox per target."""
    return db.with_name(f"{db.name}.replay-{target.key}.sqlite")


# -- derive + seed ------------------------------------------------------------------------------


async def derive_qad_commands(
    log: SQLiteEventLog, projectors: Sequence[Projector]
) -> list[tuple[str, Command]]:
    """(projector name, command) for every QAD command the log derives from position 0."""
    derived: list[tuple[str, Command]] = []
    for projector in projectors:
        async for _event, proj in project_from_start(log, projector, {}):
            derived += [(projector.name, c) for c in proj.commands if c.kind.startswith("qad.")]
    return derived


async def seed(replay_log: SQLiteEventLog, derived: Iterable[tuple[str, Command]]) -> int:
    """Add the derived commands to the replay outbox; returns how many were new."""
    outbox = Outbox(replay_log)
    await outbox.ensure()
    added = 0
    async with replay_log.transaction() as tx:
        for name, cmd in derived:
            added += await outbox.add_commands(tx, [cmd], name)
    return added


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


async def expected_documents(source: SQLiteEventLog) -> Expected:
    """Fold the commands the original dispatched successfully into the documents it made."""
    out = Expected()
    if not await Outbox(source).has_tables():
        return out
    rows = await source.query(
        "SELECT c.kind, c.reference, c.body, a.outcome FROM commands c LEFT JOIN attempts a "
        "ON a.id = (SELECT max(id) FROM attempts WHERE command_id = c.command_id) "
        "WHERE c.kind LIKE 'qad.%' ORDER BY c.seq"
    )
    orders, invoices, journals, stock = (out.docs[k] for k in KINDS)
    for kind, reference, blob, outcome in rows:
        if outcome not in DONE_OUTCOMES:
            out.unfinished += 1
            continue
        body: dict[str, Any] = orjson.loads(blob)
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
            so["cancelled"] = so["cancelled"] or bool(body.get("cancel"))
        elif kind == "qad.invoice.create":
            invoices[reference] = {
                "customer": str(body.get("customer")),
                "currency": str(body.get("currency") or "USD"),
                "amount": _n(body.get("amount")),
                "lines": sorted((str(ln["account"]), _n(ln["amount"])) for ln in body["lines"]),
            }
        elif kind == "qad.journal.create":
            journals[reference] = {
                "lines": sorted(
                    (str(ln["account"]), _n(ln.get("debit")), _n(ln.get("credit")))
                    for ln in body["lines"]
                )
            }
        elif kind == "qad.inventory.align" and body.get("mode", "report") == "adjust":
            # Alignment is a difference against the tenant's on-hand, so the adjustments of two
            # tenants may differ; what must match is the stock it aligned to (the last target).
            stock[f"{body['item']}@{body['site']}"] = {"on_hand": _n(body.get("target"))}
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
        "customer": str(doc.get("soldToCustomerCode")),
        "currency": str(doc.get("currencyCode") or "USD"),
        "cancelled": str(doc.get("status", "")).lower() == "cancelled",
        "lines": {
            int(ln.get("salesOrderLine") or 0): (
                str(ln.get("itemCode")),
                _n(ln.get("quantityOrdered")),
                _n(ln.get("netPrice")),
            )
            for ln in doc.get("salesOrderLines") or []
        },
    }


def _actual_invoice(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "customer": str(doc.get("customerCode")),
        "currency": str(doc.get("currencyCode") or "USD"),
        "amount": _n(doc.get("amountTC")),
        "lines": sorted(
            (str(ln.get("glAccount")), _n(ln.get("amountTC"))) for ln in doc.get("lines") or []
        ),
    }


def _actual_journal(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "lines": sorted(
            (str(ln.get("glAccount")), _n(ln.get("debitTC")), _n(ln.get("creditTC")))
            for ln in doc.get("lines") or []
        )
    }


async def verify(
    expected: Expected,
    target: TargetPort,
    *,
    concurrency: int = 4,
    before_request: Callable[[], Any] | None = None,
) -> VerifyReport:
    """Look every expected document up in the target by reference and compare its content."""
    report = VerifyReport(unfinished_in_original=expected.unfinished)
    sem = asyncio.Semaphore(max(1, concurrency))

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

    await asyncio.gather(
        *(one(kind, ref, want) for kind in KINDS for ref, want in expected.docs[kind].items())
    )
    return report


# -- the whole replay ------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayResult:
    outbox_path: Path
    derived: int
    added: int
    dispatched: RunCounts
    waiting: int  # commands not finished when dispatching stopped (rerun to resume)
    parked: list[tuple[str, str]]  # (command id, reason) in the replay outbox
    report: VerifyReport


async def replay_to_target(
    source: SQLiteEventLog,
    replay_log: SQLiteEventLog,
    projectors: Sequence[Projector],
    make_dispatcher: Callable[[Outbox], Dispatcher],
    target: TargetPort,
    *,
    timeout_s: float,
    concurrency: int = 4,
    before_request: Callable[[], Any] | None = None,
    progress: Progress | None = None,
    progress_every_s: float = 2.0,
) -> ReplayResult:
    """Derive, seed, dispatch (resumable) and verify; see the module doc."""
    say = progress or (lambda _msg: None)
    derived = await derive_qad_commands(source, projectors)
    added = await seed(replay_log, derived)
    say(f"derived {len(derived)} QAD commands from the log; {added} new in {replay_log.path}")
    outbox = Outbox(replay_log)
    # Rerunning a replay means "finish the job": what the target refused last time is tried
    # again (the replay file keeps the refused attempts; the original's trail is untouched).
    requeued = await outbox.requeue_parked("replay --to-tenant: rerun")
    if requeued:
        say(f"re-queued {len(requeued)} command(s) parked by the previous run")
    total = len({cmd.command_id for _n, cmd in derived})

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(progress_every_s)
            st = await _states(outbox)
            say(f"dispatched {st['done']}/{total} (parked {st['parked']})")

    ticker = asyncio.create_task(report_progress()) if progress else None
    try:
        counts = await make_dispatcher(outbox).run_until_idle(timeout_s)
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
    st = await _states(outbox)
    say(f"dispatched {st['done']}/{total}; verifying against the original's documents")
    parked = [(p.command_id, p.reason) for p in await outbox.parked() if p.kind == "command"]
    expected = await expected_documents(source)
    report = await verify(expected, target, concurrency=concurrency, before_request=before_request)
    return ReplayResult(
        outbox_path=Path(replay_log.path),
        derived=total,
        added=added,
        dispatched=counts,
        waiting=st["waiting"],
        parked=parked,
        report=report,
    )


async def _states(outbox: Outbox) -> dict[str, int]:
    """Replay outbox commands by state: done (ok/exists/skipped), parked, waiting."""
    out = {"done": 0, "parked": 0, "waiting": 0}
    for by_state in (await outbox.counts()).by_target.values():
        for outcome, n in by_state.items():
            key = (
                "done"
                if outcome in DONE_OUTCOMES
                else "parked"
                if outcome == "parked"
                else "waiting"
            )
            out[key] += n
    return out
