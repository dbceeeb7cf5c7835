"""The QAD documents of one reconciled settlement: invoice or credit note, and journal(s).

Deposit document (reference ``AMZ-STL-<id>``, debtor = the marketplace's Amazon customer):
- total > 0: a customer invoice for the total; its one line credits the clearing account.
- total < 0 (Amazon charged the seller): a customer **credit note** for ``-total``, never an
  invoice with a negative amount (QAD Financials keeps invoice and credit note apart: a debtor
  has control GL profiles for invoice and credit note [D]; a negative invoice is refused [I]).
  Its line debits the clearing account.
- total = 0: no deposit document; the journal alone moves the money between accounts.

Journal: every bucket (account, line kind) with its amount (positive credits, negative debits)
and the clearing account balancing it with the total, so the clearing account nets to zero in
the GL period of the deposit document. With the month split on ([mapping]
settlement_month_split) and lines in several months, each earlier month gets its own journal
``AMZ-STL-<id>-<YYYY-MM>`` on that month's last day, balanced through the carry-forward account;
the last month's journal (``AMZ-STL-<id>``, the end date) releases the carried amount and
balances through the clearing account. Σ of the months' lines = the deposit (A2X posts one
entry per settlement per calendar month, rolled through a "Carried Forward Balance" [D]).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

__all__ = ["Bucket", "deposit_document", "journals", "month_end"]

ZERO = Decimal("0")

# (GL account, line label, posted month "YYYY-MM" or "", account class or "")
Bucket = tuple[str, str, str, str]


def month_end(month: str) -> str:
    """The last day of ``YYYY-MM``."""
    y, m = int(month[:4]), int(month[5:7])
    return f"{month}-{calendar.monthrange(y, m)[1]:02d}"


def deposit_document(
    sid: str, ref: str, customer: str, currency: str, total: Decimal, dates: Mapping[str, str],
    clearing: str,
) -> tuple[str, dict[str, Any]] | None:  # fmt: skip
    """("invoice" | "credit_note", body) of the deposit, or None for a zero settlement."""
    if total == ZERO:
        return None
    kind = "invoice" if total > 0 else "credit_note"
    what = "deposit" if total > 0 else "charged to the seller"
    amount = str(abs(total))
    body: dict[str, Any] = {
        "reference": ref,
        "customer": customer,
        "invoice_date": dates["deposit"],
        "due_date": dates["deposit"],
        "posting_date": dates["posting"],  # the journal's: one GL period for both documents
        "currency": currency,
        "amount": amount,  # always positive: the kind carries the sign
        "description": f"Amazon settlement {sid}",
        "lines": [
            {
                "account": clearing,
                "amount": amount,
                "description": f"Amazon settlement {sid} {what}",
            }
        ],
    }
    if kind == "credit_note":
        body["kind"] = kind  # invoices carry no kind: their bodies stay as before issue 16
    return kind, body


def _line(account: str, amount: Decimal, label: str) -> dict[str, str]:
    debit, credit = (ZERO, amount) if amount > 0 else (-amount, ZERO)
    return {"account": account, "debit": str(debit), "credit": str(credit), "description": label}


def _lines(items: Iterable[tuple[tuple[str, str], Decimal]]) -> list[dict[str, str]]:
    return [_line(a, amt, label) for (a, label), amt in sorted(items) if amt != ZERO]


def journals(
    sid: str,
    ref: str,
    currency: str,
    total: Decimal,
    buckets: Mapping[Bucket, Decimal],
    dates: Mapping[str, str],
    accounts: Mapping[str, str],
    split: bool,
) -> list[tuple[str, dict[str, Any]]]:
    """(reference, body) of each journal, earliest first; [] if nothing moves."""
    posting = dates["posting"]
    last = posting[:7]
    per_month: dict[str, dict[tuple[str, str], Decimal]] = {}
    for (account, label, month, _cls), amount in buckets.items():
        # Lines without a date, or dated after the end (none expected), book with the end.
        m = month if split and month and month < last else last
        acc = per_month.setdefault(m, {})
        acc[(account, label)] = acc.get((account, label), ZERO) + amount
    out: list[tuple[str, dict[str, Any]]] = []
    carried = ZERO
    span = f"{str(dates.get('start') or '')[:10]}..{posting}"
    for month in sorted(m for m in per_month if m != last):
        lines = _lines(per_month[month].items())
        moved = sum(per_month[month].values(), ZERO)
        if moved != ZERO:
            lines.append(
                _line(accounts["carry_forward"], -moved, f"Settlement {sid} carried forward")
            )
        carried += moved
        if len(lines) >= 2:
            body = {
                "reference": f"{ref}-{month}",
                "posting_date": month_end(month),
                "currency": currency,
                "description": f"Amazon settlement {sid} {span} part {month}",
                "lines": lines,
            }
            out.append((f"{ref}-{month}", body))
    lines = _lines(per_month.get(last, {}).items())
    if carried != ZERO:
        lines.append(_line(accounts["carry_forward"], carried, f"Settlement {sid} brought forward"))
    if total != ZERO:
        lines.append(_line(accounts["clearing"], -total, f"Amazon settlement {sid} deposit"))
    if len(lines) >= 2:
        body = {
            "reference": ref,
            "posting_date": posting,
            "currency": currency,
            "description": f"Amazon settlement {sid} {span}",
            "lines": lines,
        }
        out.append((ref, body))
    return out
