"""The simulated tenant's state handle and the rules every entity shares.

Money and quantities are stored as TEXT holding a Decimal so nothing is ever rounded through a
float. Business rules live in the store (not in the HTTP layer) and raise ``BusinessError`` with
the field and message a real tenant puts in ``submitResult.errors``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engine.sim.qad.store.schema import (
    DECIMAL_COLUMNS,
    DEFAULT_LOC,
    DOMAIN,
    ENTITY,
    SITES,
    create,
    ensure_periods,
)

__all__ = [
    "DEFAULT_LOC",
    "DOMAIN",
    "ENTITY",
    "SITES",
    "BusinessError",
    "Store",
    "dec",
    "default_open_range",
    "parse_date",
    "text",
    "today",
]


class BusinessError(Exception):
    """A rule violation QAD reports as HTTP 200 ``submitResult.success=false``.

    ``code`` is None except where public code shows QAD's number (2041: duplicate sales order
    header) [C]; QAD's public sample of this envelope carries ``"code": null`` [C].
    """

    def __init__(self, field: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


def unknown_field(name: str) -> BusinessError:
    """The strict simulator's answer to a key no QAD record of that kind has."""
    return BusinessError(name, f"Unknown field {name}")


def default_open_range(today_: date | None = None) -> tuple[date, date]:
    """First day of the month 12 months back .. last day of next month."""
    t = today_ or datetime.now(UTC).date()
    start = date(t.year - 1, t.month, 1)
    ny, nm = (t.year, t.month + 2) if t.month <= 10 else (t.year + 1, t.month - 10)
    return start, date(ny, nm, 1) - timedelta(days=1)


def today() -> date:
    return datetime.now(UTC).date()


def dec(value: Any, field: str) -> Decimal:
    """A Decimal from a JSON number/string; BusinessError naming ``field`` otherwise."""
    if isinstance(value, bool) or value is None:
        raise BusinessError(field, f"{field} must be a number")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise BusinessError(field, f"{field} must be a number") from None
    if not d.is_finite():
        raise BusinessError(field, f"{field} must be a number")
    return d


def parse_date(value: Any, field: str) -> date:
    """Accepts ``YYYY-MM-DD`` and QAD's ``YYYY-MM-DDT00:00:00.000Z``."""
    if not isinstance(value, str) or len(value) < 10:
        raise BusinessError(field, f"{field} is not a valid date")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BusinessError(field, f"{field} is not a valid date") from None


def text(value: Any) -> str:
    return "" if value is None else str(value)


class Store:
    """One tenant's SQLite state. Synchronous: each call is a short transaction."""

    def __init__(self, path: Path, *, open_from: date, open_to: date) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        create(self.db)
        ensure_periods(self.db, open_from, open_to)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: a BusinessError raised inside rolls every write back."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def set_period_closed(self, year: int, period: int, closed: bool = True) -> None:
        self.db.execute(
            "UPDATE glc_cal SET glc_closed=? WHERE glc_year=? AND glc_per=?",
            (int(closed), year, period),
        )

    # -- generic reads --------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts; the Decimal columns (DECIMAL_COLUMNS) come back as Decimal."""
        out = []
        for r in self.db.execute(sql, tuple(params)).fetchall():
            d = dict(r)
            for k, v in d.items():
                if k in DECIMAL_COLUMNS and v is not None:
                    d[k] = Decimal(v)
            out.append(d)
        return out

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def next_number(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        value = int(row[0])
        self.db.execute("UPDATE meta SET value=? WHERE key=?", (str(value + 1), key))
        return value

    # -- validation helpers ---------------------------------------------------------------------

    def _need(self, sql: str, value: str, field: str, what: str) -> None:
        if not value or self.db.execute(sql, (value,)).fetchone() is None:
            raise BusinessError(field, f"{what} {value!r} does not exist")

    def need_customer(self, code: str, field: str) -> None:
        self._need("SELECT 1 FROM cm_mstr WHERE cm_addr=?", code, field, "Customer")

    def need_site(self, code: str, field: str = "siteCode") -> None:
        self._need("SELECT 1 FROM si_mstr WHERE si_site=?", code, field, "Site")

    def item(self, code: str, field: str = "itemCode") -> dict[str, Any]:
        row = self.one("SELECT * FROM pt_mstr WHERE pt_part=?", (code,)) if code else None
        if row is None:
            raise BusinessError(field, f"Item {code!r} does not exist")
        return row

    def need_account(self, code: str, field: str = "glAccount") -> None:
        self._need(
            "SELECT 1 FROM ac_mstr WHERE ac_code=? AND ac_active=1", code, field, "GL account"
        )

    def need_daybook(self, code: str) -> None:
        self._need("SELECT 1 FROM dy_mstr WHERE dy_dy_code=?", code, "daybookCode", "Daybook")

    def open_period(self, d: date, field: str) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT glc_year, glc_per, glc_closed FROM glc_cal WHERE glc_start<=? AND glc_end>=?",
            (d.isoformat(), d.isoformat()),
        ).fetchone()
        if row is None or row[2]:
            raise BusinessError(field, f"Date {d.isoformat()} is not in an open GL period")
        return int(row[0]), int(row[1])
