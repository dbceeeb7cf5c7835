"""Customer invoices (ar_mstr / ard_det) and journal entries, both posted to gltr_hist.

The tables are SE's; the REST records are [G] (QAD publishes no Adaptive Financials payload),
and the rules (open period, known accounts and daybooks, balanced posting, one document per
reference) are what QAD Financials documents for DInvoice and Posting [D].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from engine.sim.qad.store.core import (
    DOMAIN,
    ENTITY,
    BusinessError,
    Store,
    dec,
    parse_date,
    text,
)

__all__ = ["create_invoice", "create_journal", "invoice", "journal"]

AR_CONTROL = "1200"
# invoiceType -> ar_type (SE letters: I invoice, M memo [C]; M for a credit note is [I]).
AR_TYPES = {"INVOICE": "I", "CREDITNOTE": "M"}

GlLine = tuple[str, str, str, Decimal, str, str]  # account, sub, cc, amount, currency, text


def _post_gl(
    store: Store,
    voucher: int,
    lines: Iterable[GlLine],
    *,
    eff: date,
    period: tuple[int, int],
    daybook: str,
    doc: str,
    doc_typ: str,
) -> None:
    for i, (acc, sub, ctr, amt, curr, desc) in enumerate(lines, start=1):
        store.db.execute(
            "INSERT INTO gltr_hist VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                voucher, i, f"{daybook}{voucher}", DOMAIN, ENTITY, eff.isoformat(), acc, sub,
                ctr, "", str(amt), curr, str(amt), daybook, desc, doc, doc_typ, *period,
            ),
        )  # fmt: skip


def invoice(store: Store, key: str, *, by: str = "ar_nbr") -> dict[str, Any] | None:
    col = "ar_po" if by == "reference" else "ar_nbr"
    head = store.one(f"SELECT * FROM ar_mstr WHERE {col}=?", (key,))
    if head is None:
        return None
    head["lines"] = store.query(
        "SELECT * FROM ard_det WHERE ard_nbr=? ORDER BY ard_line", (head["ar_nbr"],)
    )
    return head


def _need_reference(rec: Mapping[str, Any]) -> str:
    ref = text(rec.get("reference"))
    if not ref:
        raise BusinessError("reference", "Reference is mandatory")
    return ref


def _line_list(rec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    lines = rec.get("lines") or []
    if not isinstance(lines, list) or not all(isinstance(x, Mapping) for x in lines):
        raise BusinessError("lines", "lines must be a list of objects")
    return lines


def create_invoice(store: Store, rec: Mapping[str, Any]) -> str:
    """Post one customer invoice; its invoice number (ar_nbr)."""
    ref = _need_reference(rec)
    cust = text(rec.get("customerCode"))
    store.need_customer(cust, "customerCode")
    daybook = text(rec.get("daybookCode")) or "SALES"
    store.need_daybook(daybook)
    inv_date = parse_date(rec.get("invoiceDate"), "invoiceDate")
    post = parse_date(rec.get("postingDate") or rec.get("invoiceDate"), "postingDate")
    due = parse_date(rec["dueDate"], "dueDate") if rec.get("dueDate") else inv_date
    period = store.open_period(post, "postingDate")
    amount = dec(rec.get("amountTC"), "amountTC")
    curr = text(rec.get("currencyCode")) or "USD"
    lines = _line_list(rec)
    if not lines:
        raise BusinessError("lines", "An invoice needs at least one line")
    parsed = []
    for ln in lines:
        acc = text(ln.get("glAccount"))
        store.need_account(acc)
        parsed.append(
            (
                acc,
                text(ln.get("subAccount")),
                text(ln.get("costCenter")),
                dec(ln.get("amountTC"), "amountTC"),
                text(ln.get("description")),
            )
        )
    total = sum((p[3] for p in parsed), Decimal(0))
    if total != amount:
        raise BusinessError(
            "amountTC", f"Invoice lines total {total} does not equal the invoice amount {amount}"
        )
    kind = text(rec.get("invoiceType") or "INVOICE").upper()
    if kind not in AR_TYPES:
        raise BusinessError("invoiceType", f"Invoice type {kind} is not INVOICE or CREDITNOTE")
    if amount == 0:
        raise BusinessError("amountTC", "Invoice amount cannot be zero")
    if amount < 0:
        # Real QAD: a debtor has separate control GL profiles for invoices and credit notes [D],
        # so an amount owed back is a credit note; that it refuses a negative invoice is [I].
        raise BusinessError(
            "amountTC", f"Invoice amount cannot be negative ({amount}): post a credit note"
        )
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM ar_mstr WHERE ar_po=?", (ref,)).fetchone():
            raise BusinessError(
                "reference", f"Customer invoice with reference {ref} already exists"
            )
        nbr = f"CI{store.next_number('next_inv'):06d}"
        voucher = store.next_number("next_voucher")
        db.execute(
            "INSERT INTO ar_mstr VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                nbr, DOMAIN, ENTITY, AR_TYPES[kind], cust, cust, inv_date.isoformat(),
                post.isoformat(), due.isoformat(), str(amount), curr, ref, daybook,
                text(rec.get("description")), voucher, *period,
            ),
        )  # fmt: skip
        for i, (acc, sub, cc, amt, desc) in enumerate(parsed, start=1):
            db.execute(
                "INSERT INTO ard_det VALUES (?,?,?,?,?,?,?)", (nbr, i, acc, sub, cc, str(amt), desc)
            )
        # Invoice: AR control debit, revenue lines credit (credit = negative gltr_amt).
        # Credit note: the mirror image (AR control credit, lines debit).
        sign = 1 if kind == "INVOICE" else -1
        gl: list[GlLine] = [(AR_CONTROL, "", "", sign * amount, curr, nbr)]
        gl += [(acc, sub, cc, -sign * amt, curr, desc) for acc, sub, cc, amt, desc in parsed]
        typ = "IV" if kind == "INVOICE" else "CN"
        _post_gl(store, voucher, gl, eff=post, period=period, daybook=daybook, doc=ref, doc_typ=typ)
    return nbr


def journal(store: Store, key: str, *, by: str = "voucher") -> dict[str, Any] | None:
    """One manual journal entry (``gltr_doc_typ='JL'``): header columns plus ``"lines"``."""
    where, param = "gltr_doc=?", key
    if by != "reference":
        if not key.isdigit():
            return None
        where = "gltr_voucher=?"
    rows = store.query(
        f"SELECT * FROM gltr_hist WHERE {where} AND gltr_doc_typ='JL' ORDER BY gltr_line", (param,)
    )
    if not rows:
        return None
    keep = (
        "gltr_voucher",
        "gltr_ref",
        "gltr_eff_dt",
        "gltr_dy_code",
        "gltr_doc",
        "gltr_year",
        "gltr_per",
        "gltr_entity",
    )
    head: dict[str, Any] = {k: rows[0][k] for k in keep}
    head["lines"] = rows
    return head


def create_journal(store: Store, rec: Mapping[str, Any]) -> int:
    """Post one balanced journal entry; its voucher. ``voucher`` must be 0 on create [D]."""
    ref = _need_reference(rec)
    if "voucher" in rec and dec(rec["voucher"], "voucher") != 0:
        raise BusinessError("voucher", "voucher must be 0: QAD assigns it")
    daybook = text(rec.get("daybookCode")) or "JE"
    store.need_daybook(daybook)
    post = parse_date(rec.get("postingDate"), "postingDate")
    period = store.open_period(post, "postingDate")
    head_curr = text(rec.get("currencyCode")) or "USD"
    lines = _line_list(rec)
    if len(lines) < 2:
        raise BusinessError("lines", "A journal entry needs at least two lines")
    parsed: list[GlLine] = []
    debit_total = credit_total = Decimal(0)
    for ln in lines:
        acc = text(ln.get("glAccount"))
        store.need_account(acc)
        dr = dec(ln.get("debitTC") or 0, "debitTC")
        cr = dec(ln.get("creditTC") or 0, "creditTC")
        if dr < 0 or cr < 0:
            raise BusinessError("debitTC", "Debit and credit amounts cannot be negative")
        if dr and cr:
            raise BusinessError("creditTC", "A line cannot have both a debit and a credit")
        if not dr and not cr:
            raise BusinessError("debitTC", "A line needs a debit or a credit amount")
        debit_total += dr
        credit_total += cr
        parsed.append(
            (
                acc,
                text(ln.get("subAccount")),
                text(ln.get("costCenter")),
                dr - cr,
                text(ln.get("currencyCode")) or head_curr,
                text(ln.get("description")),
            )
        )
    if debit_total != credit_total:
        raise BusinessError(
            "lines", f"Journal entry is not balanced: debit {debit_total} credit {credit_total}"
        )
    with store.transaction() as db:
        if db.execute(
            "SELECT 1 FROM gltr_hist WHERE gltr_doc=? AND gltr_doc_typ='JL'", (ref,)
        ).fetchone():
            raise BusinessError("reference", f"Journal entry with reference {ref} already exists")
        voucher = store.next_number("next_voucher")
        _post_gl(
            store, voucher, parsed, eff=post, period=period, daybook=daybook, doc=ref, doc_typ="JL"
        )
    return voucher
