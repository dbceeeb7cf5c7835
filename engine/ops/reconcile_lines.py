"""Journal lines for ``reconcile``: the lines the settlements projector posts against the lines
QAD holds under the journal's reference, per GL account and fee type (line description).

Expected lines come from the projector's ``qad.journal.create`` bodies (the same mapping rules
that posted them: nothing is mapped twice). Found lines come from QAD's posting-line browse
(``[qad.browses] posting_line``), read back through the QAD client.

Amounts are signed credit - debit. Lines are matched on (account, description) with the
description's whitespace collapsed. Where QAD keeps a description other than the one sent (a
tenant that shortens line texts [I]), the line comparison falls back to the account: the
journal is ``ok`` when every account's total agrees, and the line rows then show what differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["LineCheck", "compare_lines", "expected_lines", "found_lines", "line_key"]

ZERO = Decimal(0)
LineKey = tuple[str, str]  # (GL account, description)


@dataclass(frozen=True, slots=True)
class LineCheck:
    """One (account, fee type) of a journal: the amount expected and what QAD holds."""

    account: str
    description: str
    expected: Decimal | None  # None: QAD holds a line nobody posted
    found: Decimal | None  # None: not in QAD

    @property
    def status(self) -> str:
        if self.found is None:
            return "missing"
        if self.expected is None:
            return "unexpected"
        return "ok" if self.found == self.expected else "different"


def line_key(account: Any, description: Any) -> LineKey:
    return str(account or ""), " ".join(str(description or "").split())


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0))
    except (InvalidOperation, ValueError):
        return ZERO


def expected_lines(body: Mapping[str, Any]) -> dict[LineKey, Decimal]:
    """The lines of one ``qad.journal.create`` body, credit - debit per key."""
    out: dict[LineKey, Decimal] = {}
    for ln in body.get("lines") or ():
        key = line_key(ln.get("account"), ln.get("description"))
        out[key] = out.get(key, ZERO) + _amount(ln.get("credit")) - _amount(ln.get("debit"))
    return out


def found_lines(lines: Iterable[Mapping[str, Any]]) -> dict[LineKey, Decimal]:
    """QAD's posting lines (``QadClient.find_journal_lines_by_reference``) per key."""
    out: dict[LineKey, Decimal] = {}
    for ln in lines:
        key = line_key(ln.get("account"), ln.get("description"))
        out[key] = out.get(key, ZERO) + _amount(ln.get("credit")) - _amount(ln.get("debit"))
    return out


def _per_account(lines: Mapping[LineKey, Decimal]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for (account, _), amount in lines.items():
        out[account] = out.get(account, ZERO) + amount
    return {a: v for a, v in out.items() if v != ZERO}


def compare_lines(
    want: Mapping[LineKey, Decimal], have: Mapping[LineKey, Decimal]
) -> tuple[bool, list[LineCheck]]:
    """(the journal agrees, one check per key on either side, expected keys first)."""
    checks = [LineCheck(a, d, v, have.get((a, d))) for (a, d), v in want.items()]
    checks += [LineCheck(a, d, None, v) for (a, d), v in have.items() if (a, d) not in want]
    exact = all(c.status == "ok" for c in checks)
    return exact or _per_account(want) == _per_account(have), checks
