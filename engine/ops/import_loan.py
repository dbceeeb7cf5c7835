"""``import loan-statement``: the interest of Amazon Lending repayments, month by month.

Amazon's loan statement (Seller Central > Payments > Amazon Lending) shows per month how much
of the repayments deducted from settlements was interest; the settlements only carry the
combined repayment ([D] A2X). Amazon publishes no machine-readable format for it ([G]: none
found), so the file is a CSV the accountant fills from the statement, one row per month:

    month,currency,interest[,loan]
    2026-03,USD,12.40

``month`` is ``YYYY-MM``; ``currency`` one the configured marketplaces settle in; ``interest``
a positive amount with at most the currency's decimals; ``loan`` (optional) a loan id for a
seller with several loans (letters, digits, ``-``, up to 20). Each row becomes a
``LoanInterestStated`` event keyed ``<currency>:<month>[:<loan>]``; the lending projector
posts its reclassifying journal. The whole file is checked first: any bad row, or a month
already imported with another amount, stops the import with nothing appended. Importing the
same statement again appends nothing (the events are the same).

Either backend: the check against the log and the append are one transaction holding the log's
head, so on PostgreSQL (writers beside this one) two imports restating one month cannot both
append. ``--dry-run`` opens the log read-only and never creates one.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.errors import EngineError
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.ops.import_settlement import open_import_log
from engine.projectors.lending import LENDING_STREAM
from engine.projectors.order_money import quantum

__all__ = ["LoanImportError", "LoanMonth", "import_loan_statement", "read_loan_statement"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_LOAN = re.compile(r"^[A-Za-z0-9-]{1,20}$")
_COLUMNS = ("month", "currency", "interest")
MAX_ROWS = 10_000  # a statement has one row per month and loan: anything longer is not one


class LoanImportError(EngineError):
    """A loan statement that cannot be imported (exit 1): nothing was appended."""


@dataclass(frozen=True, slots=True)
class LoanMonth:
    month: str
    currency: str
    interest: Decimal
    loan: str = ""

    @property
    def key(self) -> str:
        return ":".join(p for p in (self.currency, self.month, self.loan) if p)

    def event(self, source: str) -> NewEvent:
        payload: dict[str, Any] = {
            "month": self.month,
            "currency": self.currency,
            "interest": str(self.interest),
        }
        if self.loan:
            payload["loan"] = self.loan
        return NewEvent(LENDING_STREAM, "LoanInterestStated", self.key, payload, source)


def _row(n: int, row: dict[str, str | None], currencies: set[str]) -> LoanMonth:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    month, currency, raw = cell("month"), cell("currency").upper(), cell("interest")
    if not _MONTH.match(month):
        raise LoanImportError(f"line {n}: month {month!r} is not YYYY-MM")
    if currency not in currencies:
        known = ", ".join(sorted(currencies)) or "none configured"
        raise LoanImportError(
            f"line {n}: currency {currency!r} is not one the configured marketplaces settle in "
            f"({known})"
        )
    try:
        interest = Decimal(raw)
    except InvalidOperation:
        raise LoanImportError(f"line {n}: interest {raw!r} is not an amount") from None
    q = quantum(currency)
    if not interest.is_finite() or interest <= 0 or interest.adjusted() > 12:
        raise LoanImportError(f"line {n}: interest {raw!r} must be a positive amount")
    if interest != interest.quantize(q):
        raise LoanImportError(f"line {n}: interest {raw!r} has more decimals than {currency}")
    loan = cell("loan")
    if loan and not _LOAN.match(loan):
        raise LoanImportError(f"line {n}: loan {loan!r}: letters, digits and '-' (up to 20)")
    return LoanMonth(month, currency, interest.quantize(q), loan)


def read_loan_statement(path: Path, currencies: set[str]) -> list[LoanMonth]:
    """The checked months of one statement file (LoanImportError names the first bad row)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LoanImportError(f"{path}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LoanImportError(f"{path}: not a UTF-8 text file") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise LoanImportError(
            f"{path}: header must name month,currency,interest[,loan] "
            f"(missing {', '.join(missing)})"
        )
    reader.fieldnames = header
    months: dict[str, LoanMonth] = {}
    for n, row in enumerate(reader, start=2):
        if n > MAX_ROWS:
            raise LoanImportError(f"{path}: over {MAX_ROWS} rows: not a loan statement")
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        try:
            lm = _row(n, row, currencies)
        except LoanImportError as exc:
            raise LoanImportError(f"{path}: {exc}") from None
        if lm.key in months:
            raise LoanImportError(f"{path}: line {n}: {lm.key} appears twice")
        months[lm.key] = lm
    if not months:
        raise LoanImportError(f"{path}: no rows")
    return list(months.values())


@dataclass(frozen=True, slots=True)
class LoanImported:
    month: LoanMonth
    status: str  # appended | would append | already in the log


async def import_loan_statement(
    cfg: Config, files: Sequence[Path], *, dry_run: bool = False
) -> list[LoanImported]:
    """Check every file, then append the months not in the log yet (all or nothing)."""
    currencies = {m.currency.strip().upper() for m in cfg.mapping.marketplaces.values()}
    rows: list[tuple[Path, LoanMonth]] = []
    seen: dict[str, Decimal] = {}
    for path in files:
        try:
            months = read_loan_statement(path, currencies)
        except LoanImportError as exc:
            raise LoanImportError(f"{exc}; nothing was imported") from None
        for lm in months:
            if seen.get(lm.key, lm.interest) != lm.interest:
                raise LoanImportError(
                    f"{path}: {lm.key} differs from another file's; nothing was imported"
                )
            seen[lm.key] = lm.interest
            rows.append((path, lm))
    async with open_import_log(cfg.engine.db, dry_run=dry_run) as log:
        if log is None:  # a dry run on a log not created yet: every month is new
            return [LoanImported(lm, "would append") for _p, lm in rows]
        if dry_run:
            return (await _judge(log, rows, dry_run=True))[0]
        async with log.transaction() as tx:
            await tx.append([])  # takes the head now: the check sees every committed append
            out, new = await _judge(log, rows, dry_run=False)
            if new:
                await tx.append(new)
    return out


async def _judge(
    log: EventLog, rows: list[tuple[Path, LoanMonth]], *, dry_run: bool
) -> tuple[list[LoanImported], list[NewEvent]]:
    """Each month against the log: (outcomes, events to append); a restated month refuses all."""
    out: list[LoanImported] = []
    new: list[NewEvent] = []
    done: set[str] = set()
    for path, lm in rows:
        if lm.key in done:
            continue
        done.add(lm.key)
        latest = await log.latest(LENDING_STREAM, lm.key)
        if latest is not None and Decimal(str(latest.payload["interest"])) != lm.interest:
            raise LoanImportError(
                f"{path}: {lm.key} was imported with interest {latest.payload['interest']}, "
                f"not {lm.interest}: a posted month is corrected in QAD by hand; "
                "nothing was imported"
            )
        status = "already in the log" if latest is not None else "would append"
        if latest is None and not dry_run:
            new.append(lm.event(f"import:{path.name}"))
            status = "appended"
        out.append(LoanImported(lm, status))
    return out, new
