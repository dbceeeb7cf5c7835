"""Command kind -> the coroutine that performs it downstream (see /work/notes/commands.md).

A handler knows its endpoint and builds a one-line request summary (document reference, QAD
customer/item codes, counts and amounts: never secrets or buyer data; command bodies carry no
buyer PII in clear). ``perform(command, uncertain)`` returns an Outcome or raises an engine error,
which the dispatcher's retry policy classifies.

A sales order of a merchant-fulfilled order may carry ``ship_to``: the sealed envelope from the
order's event (ciphertext bound to the order's data key, so purge-pii shreds it too). Only the
handler opens it, right before the post, with the sealer ``qad_handlers`` was given; without one
(or once purged) the order is posted with the customer's ship-to.

QAD posts are look-up-before-create inside the QAD client (a second post of the same reference
returns the existing document with ``created=False``), so after an unknown outcome re-posting is
safe: the client's look-up decides and the attempt is recorded as 'exists'. A create the
outbox proves was never sent (no intent recorded for its kind and reference, ``Outbox.pending``)
goes through ``perform_unsent``: the client creates without that look-up (``known_unsent``).
The handler passes ``uncertain`` on (``after_unknown_outcome``): a look-up not proven on this
tenant may not decide that such a document is absent, so the client parks it (ConfigError)
instead of posting again.
Inventory alignment is a difference against QAD's on-hand (the on-hand browse), so it looks its
reference up itself before reading the balance (an applied adjustment must not be applied again).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from engine.adapters.qad.models import (
    CustomerInvoice,
    InventoryAdjustment,
    InventoryBalance,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    LineChange,
    PostResult,
    SalesOrder,
    SalesOrderLine,
    SalesOrderUpdate,
    ShipTo,
    business_remarks,
)
from engine.adapters.qad.settings import QadBrowses, QadPaths
from engine.commands.state_counts import DRIFT_PREFIX
from engine.commands.vocabulary import Command
from engine.errors import DataError
from engine.security.pii import is_envelope

__all__ = [
    "Handler",
    "Handlers",
    "Outcome",
    "PiiOpener",
    "QadPort",
    "qad_handlers",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a successful attempt achieved: ok (posted), exists (already there), skipped, or
    verifying (a follow-up check, due again at ``retry_at``; engine/dispatch/listing_handlers)."""

    outcome: str
    response: str
    document: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Handler:
    endpoint: str
    summarize: Callable[[Command], str]
    perform: Callable[[Command, bool], Awaitable[Outcome]]
    # For a command the outbox proves was never sent (PendingCommand.never_sent): creates
    # without the look-up before. None: ``perform`` is used whatever the history.
    perform_unsent: Callable[[Command], Awaitable[Outcome]] | None = None


Handlers = Mapping[str, Handler]
log = logging.getLogger(__name__)


class QadPort(Protocol):
    """The part of engine.adapters.qad.QadClient the handlers use."""

    async def post_sales_order(self, so: SalesOrder) -> PostResult: ...
    async def update_sales_order(self, upd: SalesOrderUpdate) -> PostResult: ...
    async def post_customer_invoice(self, inv: CustomerInvoice) -> PostResult: ...
    async def post_journal_entry(self, je: JournalEntry) -> PostResult: ...
    async def post_inventory_adjustment(self, adj: InventoryAdjustment) -> PostResult: ...
    async def find_inventory_adjustment_by_reference(self, ref: str) -> dict[str, Any] | None: ...
    async def inventory_balance(self, item: str, site: str) -> InventoryBalance | None: ...


class PiiOpener(Protocol):
    """``engine.security.pii.PiiSealer`` as the sales order handlers use it."""

    async def open(
        self, envelope: dict[str, Any], *, record_key: str | None = None
    ) -> dict[str, Any] | None: ...


# -- helpers ---------------------------------------------------------------------------------


def _dec(body: Mapping[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(body[key]))
    except (KeyError, ArithmeticError) as exc:
        raise DataError(f"command body: {key!r} missing or not a decimal") from exc


def _day(body: Mapping[str, Any], key: str) -> date:
    try:
        return date.fromisoformat(str(body[key]))
    except (KeyError, ValueError) as exc:
        raise DataError(f"command body: {key!r} missing or not a YYYY-MM-DD date") from exc


def _posted(result: PostResult, what: str) -> Outcome:
    recovered = " (recovered by look-up)" if result.details.get("recovered") else ""
    if result.details.get("completed"):  # a header found without its lines (a crash between)
        added = f"{result.details['completed']} missing line(s) added{recovered}"
        return Outcome("ok", f"{what} {result.document} completed: {added}", result.document)
    if result.created:
        return Outcome("ok", f"{what} {result.document} created{recovered}", result.document)
    return Outcome("exists", f"{what} {result.document} already in QAD{recovered}", result.document)


async def _ship_to(b: Mapping[str, Any], sealer: PiiOpener | None) -> ShipTo | None:
    """The decrypted delivery address of a sales order command (None: none or purged)."""
    sealed = b.get("ship_to")
    if sealed is None:
        return None
    if not isinstance(sealed, dict) or not is_envelope(sealed):
        raise DataError("command body: 'ship_to' is not a sealed PII envelope")
    if sealer is None:
        log.warning("sales order %s: ship-to not posted (no PII key wired)", b.get("reference"))
        return None
    plain = await sealer.open(sealed, record_key=str(b["reference"]))
    if plain is None:
        return None  # purged: QAD keeps the customer's own ship-to

    def text(key: str) -> str:
        return str(plain.get(key) or "")

    return ShipTo(
        name=text("name"),
        address_lines=tuple(v for k in ("1", "2", "3") if (v := text(f"address_line{k}"))),
        city=text("city"),
        state_or_region=text("state_or_region"),
        postal_code=text("postal_code"),
        country_code=text("country_code"),
    )


# -- QAD -------------------------------------------------------------------------------------


def qad_handlers(
    client: QadPort,
    paths: QadPaths | None = None,
    *,
    sealer: PiiOpener | None = None,
    browses: QadBrowses | None = None,
) -> dict[str, Handler]:
    """Handlers for every ``qad.*`` command kind; ``sealer`` opens sales orders' ship-to.
    ``paths`` / ``browses`` name endpoints in the log (default: the client's own profile)."""
    profile = getattr(client, "settings", None)
    p = paths or getattr(profile, "paths", None) or QadPaths()
    br = browses or getattr(profile, "browses", None) or QadBrowses()

    def _so_line(ln: dict[str, Any], b: dict[str, Any]) -> SalesOrderLine:
        return SalesOrderLine(
            item=str(ln["item"]),
            quantity=_dec(ln, "quantity"),
            price=_dec(ln, "price"),
            site=str(ln.get("site") or b.get("site") or ""),
            line=int(ln.get("line", 0)),
            list_price=_dec(ln, "list_price") if ln.get("list_price") is not None else None,
        )

    async def so_create(cmd: Command, uncertain: bool, unsent: bool = False) -> Outcome:
        b = cmd.body
        lines = tuple(_so_line(ln, b) for ln in b["lines"])
        so = SalesOrder(
            reference=str(b["reference"]),
            customer=str(b["customer"]),
            order_date=_day(b, "order_date"),
            lines=lines,
            currency=str(b.get("currency") or "USD"),
            site=str(b.get("site") or "10-100"),
            ship_to=await _ship_to(b, sealer),
            after_unknown_outcome=uncertain,
            known_unsent=unsent,
            remarks=business_remarks(b.get("business")),
        )
        return _posted(await client.post_sales_order(so), "sales order")

    async def so_update(cmd: Command, uncertain: bool) -> Outcome:
        b = cmd.body
        upd = SalesOrderUpdate(
            reference=str(b["reference"]),
            lines=tuple(
                LineChange(
                    line=int(ln["line"]),
                    quantity=_dec(ln, "quantity") if ln.get("quantity") is not None else None,
                    price=_dec(ln, "price") if ln.get("price") is not None else None,
                    list_price=(
                        _dec(ln, "list_price") if ln.get("list_price") is not None else None
                    ),
                )
                for ln in b.get("lines", ())
            ),
            cancel=bool(b.get("cancel", False)),
            ship_to=await _ship_to(b, sealer),
            add=tuple(_so_line(ln, b) for ln in b.get("add", ())),
        )
        result = await client.update_sales_order(upd)
        what = "sales order cancel" if upd.cancel else "sales order update"
        if result.created:
            return Outcome("ok", f"{what} applied to {result.document}", result.document)
        return Outcome("exists", f"{what} already in effect on {result.document}", result.document)

    async def invoice(cmd: Command, uncertain: bool, unsent: bool = False) -> Outcome:
        b = cmd.body
        inv = CustomerInvoice(
            reference=str(b["reference"]),
            customer=str(b["customer"]),
            invoice_date=_day(b, "invoice_date"),
            due_date=_day(b, "due_date") if b.get("due_date") else None,
            posting_date=_day(b, "posting_date") if b.get("posting_date") else None,
            amount=_dec(b, "amount"),
            currency=str(b.get("currency") or "USD"),
            description=str(b.get("description") or ""),
            lines=tuple(
                InvoiceLine(
                    account=str(ln["account"]),
                    amount=_dec(ln, "amount"),
                    description=str(ln.get("description") or ""),
                )
                for ln in b["lines"]
            ),
            daybook=str(b.get("daybook") or "SALES"),
            kind=str(b.get("kind") or "invoice"),
            after_unknown_outcome=uncertain,
            known_unsent=unsent,
        )
        what = "customer credit note" if inv.kind == "credit_note" else "customer invoice"
        return _posted(await client.post_customer_invoice(inv), what)

    async def journal(cmd: Command, uncertain: bool, unsent: bool = False) -> Outcome:
        b = cmd.body
        je = JournalEntry(
            reference=str(b["reference"]),
            posting_date=_day(b, "posting_date"),
            currency=str(b.get("currency") or "USD"),
            description=str(b.get("description") or ""),
            lines=tuple(
                JournalLine(
                    account=str(ln["account"]),
                    debit=_dec(ln, "debit"),
                    credit=_dec(ln, "credit"),
                    description=str(ln.get("description") or ""),
                )
                for ln in b["lines"]
            ),
            daybook=str(b.get("daybook") or "JE"),
            after_unknown_outcome=uncertain,
            known_unsent=unsent,
        )
        return _posted(await client.post_journal_entry(je), "journal entry")

    async def align(cmd: Command, uncertain: bool, unsent: bool = False) -> Outcome:
        b = cmd.body
        reference = str(b["reference"])
        found = None if unsent else await client.find_inventory_adjustment_by_reference(reference)
        if found is not None:
            doc = str(found.get("document") or "?")  # the client's look-ups name it "document"
            return Outcome("exists", f"adjustment {reference} already posted", doc)
        item, site = str(b["item"]), str(b["site"])
        balance = await client.inventory_balance(item, site)
        on_hand = balance.on_hand if balance is not None else Decimal(0)  # no record = none
        diff = _dec(b, "target") - on_hand
        if diff == 0:
            return Outcome("skipped", f"in line: on hand {on_hand}")
        if b.get("mode", "report") != "adjust":
            # DRIFT_PREFIX: status counts these (engine.commands.state_counts)
            return Outcome(
                "skipped", f"{DRIFT_PREFIX} {diff:+} (QAD {on_hand}, Amazon {b['target']})"
            )
        adj = InventoryAdjustment(
            reference=reference,
            item=item,
            site=site,
            quantity=diff,
            effective_date=_day(b, "effective_date"),
            remarks=f"Amazon {b.get('marketplace_id', '')} stock alignment"[:60],
            after_unknown_outcome=uncertain,
            known_unsent=unsent,
        )
        out = _posted(await client.post_inventory_adjustment(adj), "adjustment")
        return Outcome(out.outcome, f"{out.response}: {diff:+} (was {on_hand})", out.document)

    return {
        "qad.sales_order.create": Handler(
            f"POST {p.sales_order_headers} + {p.sales_order_lines_grid}",
            _so_summary,
            so_create,
            lambda cmd: so_create(cmd, False, True),
        ),
        "qad.sales_order.update": Handler(
            f"POST {p.sales_order_lines_grid}|{p.sales_order_headers} (update)",
            _upd_summary,
            so_update,
        ),
        "qad.invoice.create": Handler(
            f"POST {p.customer_invoices}",
            _inv_summary,
            invoice,
            lambda cmd: invoice(cmd, False, True),
        ),
        "qad.journal.create": Handler(
            f"POST {p.journal_entries}", _je_summary, journal, lambda cmd: journal(cmd, False, True)
        ),
        "qad.inventory.align": Handler(
            f"GET {p.browses}?browseId={br.on_hand} + POST "
            f"{p.unplanned_receives}|{p.unplanned_issues}",
            _align_summary,
            align,
            lambda cmd: align(cmd, False, True),
        ),
    }


def _so_summary(cmd: Command) -> str:
    b = cmd.body
    lines = ", ".join(
        f"{ln.get('item')} x{ln.get('quantity')} @{ln.get('price')}" for ln in b["lines"]
    )
    return (
        f"sales order ref={b.get('reference')} customer={b.get('customer')} "
        f"date={b.get('order_date')} {b.get('currency')} site={b.get('site')} lines=[{lines}]"
        + (" ship_to=sealed" if b.get("ship_to") is not None else "")
    )


def _upd_summary(cmd: Command) -> str:
    b = cmd.body
    lines = ", ".join(
        f"#{ln.get('line')} qty={ln.get('quantity')} price={ln.get('price')}"
        for ln in b.get("lines", ())
    )
    sealed = " ship_to=sealed" if b.get("ship_to") is not None else ""
    return (
        f"sales order update ref={b.get('reference')} cancel={bool(b.get('cancel'))} "
        f"[{lines}]{sealed}"
    )


def _inv_summary(cmd: Command) -> str:
    b = cmd.body
    return (
        f"customer invoice ref={b.get('reference')} customer={b.get('customer')} "
        f"amount={b.get('amount')} {b.get('currency')} date={b.get('invoice_date')} "
        f"due={b.get('due_date')} lines={len(b.get('lines', ()))}"
    )


def _je_summary(cmd: Command) -> str:
    b = cmd.body
    lines = b.get("lines", ())
    debit = sum((Decimal(str(ln.get("debit", 0))) for ln in lines), Decimal(0))
    return (
        f"journal entry ref={b.get('reference')} date={b.get('posting_date')} "
        f"{b.get('currency')} lines={len(lines)} total={debit}"
    )


def _align_summary(cmd: Command) -> str:
    b = cmd.body
    return (
        f"inventory align ref={b.get('reference')} item={b.get('item')} site={b.get('site')} "
        f"target={b.get('target')} mode={b.get('mode')}"
    )
