"""Streaming parser for settlement reports (``GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2``).

Tab-separated, header line, a summary row (empty ``transaction-type``), then one row per amount
component. Columns are located by header name, so extra or missing trailing columns (the optional
``promotion-id``) do not matter. Numbers and dates follow the marketplace's locale
(engine/config/settlement_locales.py: decimal point or comma, order of slashed dates). The
locale is the caller's (forced, or picked by currency from the configured marketplaces); only
when neither decides is it detected from the summary row.

Memory is constant in the file size: lines are consumed one by one, amounts summed as ``Decimal``.
``finish()`` checks that the detail rows sum to ``total-amount``; any failure raises
``SettlementError`` with a ``reason_code`` so the caller can quarantine the document whole. A line
over ``MAX_LINE_CHARS`` is one such failure: read the document with ``open_text(...,
max_line=MAX_LINE_CHARS)`` so such a line is refused before it is held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.adapters.amazon.settlement_locale import (
    DATE_ORDER,
    DECIMAL_COMMA,
    DOTTED_DATE,
    MDY_CURRENCIES,
    guess_decimal_comma,
    iso_utc,
    parse_date,
)
from engine.adapters.amazon.settlement_model import (
    REQUIRED,
    TEXT_COLS,
    ParsedSettlement,
    SettlementError,
    SettlementSummary,
    row_builder,
)
from engine.errors import ParseError

__all__ = [
    "MAX_LINE_CHARS",
    "ParsedSettlement",
    "SettlementError",
    "SettlementReader",
    "SettlementSummary",
    "parse_settlement",
]

MAX_LINE_CHARS = 1 << 20  # real lines are under 2 KB; 1 MiB leaves room for odd descriptions


class SettlementReader:
    """Iterate a settlement document's detail rows (payload dicts) with constant memory.

    Usage::

        reader = SettlementReader(lines, locale=None)   # lines: decoded text lines
        for row in reader: ...                          # detail rows, file order
        parsed = reader.finish()                        # summary + reconciliation check

    ``locale`` ("US", "UK", "DE", "EU", "JP") forces the layout; else ``pick(currency)`` (the
    configured marketplaces' locale for the summary row's currency) decides; when it returns
    None the layout is detected from the summary row (separators, date style, currency).
    """

    def __init__(
        self,
        lines: Iterable[str],
        *,
        locale: str | None = None,
        pick: Callable[[str], str | None] | None = None,
    ) -> None:
        if locale is not None and locale not in DATE_ORDER:
            raise ValueError(f"unknown settlement locale {locale!r}")
        self._lines = iter(lines)
        self._forced = locale
        self._pick = pick
        self.locale: str | None = locale
        self._comma: bool | None = DECIMAL_COMMA[locale] if locale else None
        self._order: str = DATE_ORDER[locale] if locale else "DMY"
        self._date_cache: dict[str, str] = {}
        self.summary: SettlementSummary | None = None
        self.detail_sum = Decimal(0)
        self.row_count = 0
        self.lineno = 0
        self._idx: dict[str, int] = {}
        self._done = False

    # ------------------------------------------------------------------ header & locale

    def _read_header(self) -> None:
        try:
            for line in self._lines:
                self.lineno += 1
                _check_length(line, self.lineno)
                line = line.rstrip("\r\n").lstrip("\ufeff")
                if not line.strip():
                    continue
                names = [c.strip().lower() for c in line.split("\t")]
                self._idx = {n: i for i, n in enumerate(names) if n}
                missing = [c for c in REQUIRED if c not in self._idx]
                if missing:
                    raise SettlementError(f"line {self.lineno}: header lacks {', '.join(missing)}")
                return
        except ParseError as exc:
            raise _as_settlement_error(exc) from None
        raise SettlementError("empty document")

    def _decide_locale(self, cells: list[str]) -> None:
        if self._forced:
            return
        g = self._get
        currency = g(cells, "currency").strip().upper()
        picked = self._pick(currency) if self._pick is not None else None
        if picked is not None:
            if picked not in DATE_ORDER:
                raise ValueError(f"unknown settlement locale {picked!r}")
            self.locale = picked
            self._comma, self._order = DECIMAL_COMMA[picked], DATE_ORDER[picked]
            return
        dates = [g(cells, c) for c in ("settlement-start-date", "posted-date", "deposit-date")]
        dotted = any(DOTTED_DATE.match(d.strip()) for d in dates if d)
        comma = self._comma
        if comma is None:
            comma = guess_decimal_comma(g(cells, "total-amount") or g(cells, "amount"))
        if comma is None:
            comma = dotted or currency == "EUR"
        self._comma = comma
        if currency == "JPY":
            self.locale = "JP"
        elif comma:
            self.locale = "DE" if dotted or currency == "EUR" else "EU"
        elif currency in MDY_CURRENCIES:
            self.locale = "US"
        else:
            self.locale = "UK"
        self._order = DATE_ORDER[self.locale]

    # ------------------------------------------------------------------ cells

    def _get(self, cells: list[str], name: str) -> str:
        i = self._idx.get(name)
        if i is None or i >= len(cells):
            return ""
        return cells[i]

    def _amount(self, s: str, what: str) -> Decimal:
        # Spaces (also no-break ones) as thousands separators: "1 234,56" in French number style.
        t = s.strip().replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
        if self._comma:
            t = t.replace(".", "").replace(",", ".")
        elif "," in t:
            t = t.replace(",", "")
        try:
            v = Decimal(t)
        except InvalidOperation:
            raise SettlementError(f"line {self.lineno}: bad {what} {s!r}") from None
        # Bounded exponent: "1e999999999" would overflow the sum or make a billion-digit int.
        if not v.is_finite() or abs(v.adjusted()) > 15:
            if v.is_zero() and v.is_finite():
                return Decimal(0)
            raise SettlementError(f"line {self.lineno}: bad {what} {s!r}")
        return v

    def _date(self, s: str, what: str) -> datetime:
        try:
            return parse_date(s, self._order)
        except ValueError as exc:
            raise SettlementError(f"line {self.lineno}: bad {what} {s!r} ({exc})") from None

    def _date_iso(self, s: str) -> str:
        hit = self._date_cache.get(s)
        if hit is None:
            if len(self._date_cache) > 4096:  # bounded: constant memory on any file
                self._date_cache.clear()
            hit = self._date_cache[s] = iso_utc(self._date(s, "posted date"))
        return hit

    def _quantity(self, s: str) -> int | None:
        t = s.strip()
        if not t:
            return None
        try:
            q = int(t) if len(t) <= 15 else None
        except ValueError:
            q = None
        if q is None:
            v = self._amount(t, "quantity")
            if v != v.to_integral_value():
                raise SettlementError(f"line {self.lineno}: bad quantity {s!r}") from None
            return int(v)
        return q

    def _take_summary(self, cells: list[str]) -> None:
        g = self._get
        if self.summary is not None:
            raise SettlementError(f"line {self.lineno}: second summary row")
        self._decide_locale(cells)
        sid = g(cells, "settlement-id").strip()
        if not sid:
            raise SettlementError(f"line {self.lineno}: summary row without settlement-id")
        dep = g(cells, "deposit-date").strip()
        self.summary = SettlementSummary(
            settlement_id=sid,
            start=self._date(g(cells, "settlement-start-date"), "settlement-start-date"),
            end=self._date(g(cells, "settlement-end-date"), "settlement-end-date"),
            deposit_date=self._date(dep, "deposit-date") if dep else None,
            total_amount=self._amount(g(cells, "total-amount"), "total-amount"),
            currency=g(cells, "currency").strip().upper(),
        )

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self._idx:
            self._read_header()
        idx = self._idx
        i_tt = idx["transaction-type"]
        i_sid = idx["settlement-id"]
        i_amt = idx["amount"]
        i_pdt = idx.get("posted-date-time")
        i_pd = idx.get("posted-date")
        i_qty = idx.get("quantity-purchased")
        build = row_builder(tuple((k, idx[h]) for k, h in TEXT_COLS if h in idx))
        width = max(idx.values()) + 1
        pad = [""] * width
        dcache = self._date_cache
        qcache: dict[str, int | None] = {"": None}
        comma = bool(self._comma)
        sid_ok = self.summary.settlement_id if self.summary else None
        total, n = self.detail_sum, self.row_count
        lines, first, cap = self._lines, self.lineno + 1, MAX_LINE_CHARS
        try:
            for self.lineno, line in enumerate(lines, first):
                if len(line) > cap:
                    _check_length(line, self.lineno)
                line = line.rstrip("\r\n")
                if not line:
                    continue
                cells = line.split("\t")
                if len(cells) < width:
                    cells += pad[len(cells) :]
                if not cells[i_tt].strip():
                    if not any(c.strip() for c in cells):
                        continue
                    self._take_summary(cells)
                    comma = bool(self._comma)
                    sid_ok = self.summary.settlement_id if self.summary else None
                    continue
                if sid_ok is None:
                    raise SettlementError(f"line {self.lineno}: detail row before the summary row")
                sid = cells[i_sid]
                if sid != sid_ok and sid.strip() != sid_ok:
                    raise SettlementError(
                        f"line {self.lineno}: settlement-id {sid!r} differs from the summary"
                    )
                # Hot path (100 MB files): fast cases inline, the helpers handle the rest.
                raw = cells[i_amt]
                t = raw.replace(".", "").replace(",", ".") if comma else raw.replace(",", "")
                try:
                    amount = Decimal(t)
                    if not amount.is_finite() or not -15 <= amount.adjusted() <= 15:
                        raise InvalidOperation  # _amount decides (bounded exponents only)
                except InvalidOperation:
                    amount = self._amount(raw, "amount")  # raises with the line number
                total += amount
                n += 1
                d = cells[i_pdt] if i_pdt is not None else ""
                if not d and i_pd is not None:
                    d = cells[i_pd]
                posted = (dcache.get(d) or self._date_iso(d)) if d else None
                q = cells[i_qty] if i_qty is not None else ""
                qty = qcache.get(q, -1)  # quantities repeat ("1", "2"): parse each once
                if qty == -1:
                    qty = self._quantity(q)
                    if len(qcache) < 256:
                        qcache[q] = qty
                self.detail_sum, self.row_count = total, n  # exact even if abandoned mid-way
                yield build(cells, str(amount), posted, qty)
            self._done = True
        except ParseError as exc:
            raise _as_settlement_error(exc) from None
        finally:
            self.detail_sum, self.row_count = total, n

    def finish(self, rows: list[dict[str, Any]] | None = None) -> ParsedSettlement:
        """After iterating: the summary, reconciled (SettlementError "unreconciled" if not)."""
        if not self._done:
            for _ in self:
                pass
        if self.summary is None:
            raise SettlementError("no summary row (total-amount) found")
        if self.detail_sum != self.summary.total_amount:
            raise SettlementError(
                f"unreconciled: detail sum {self.detail_sum} != total-amount "
                f"{self.summary.total_amount} ({self.row_count} rows)",
                "unreconciled",
            )
        return ParsedSettlement(
            summary=self.summary,
            locale=self.locale or "UK",
            row_count=self.row_count,
            detail_sum=self.detail_sum,
            rows=rows if rows is not None else [],
        )


def _check_length(line: str, lineno: int) -> None:
    """SettlementError past ``MAX_LINE_CHARS`` (the line terminator is not counted)."""
    if len(line) > MAX_LINE_CHARS and len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
        raise SettlementError(f"line {lineno}: line too long (over {MAX_LINE_CHARS} characters)")


def _as_settlement_error(exc: ParseError) -> SettlementError:
    """A failure of the line source itself (``open_text``: line too long, bytes not in the
    charset) as SettlementError, so the document is quarantined like any other bad one."""
    return exc if isinstance(exc, SettlementError) else SettlementError(str(exc))


def parse_settlement(
    lines: Iterable[str],
    *,
    locale: str | None = None,
    keep_rows: bool = True,
    pick: Callable[[str], str | None] | None = None,
) -> ParsedSettlement:
    """Parse and reconcile a whole document; ``keep_rows=False`` keeps memory constant."""
    reader = SettlementReader(lines, locale=locale, pick=pick)
    rows: list[dict[str, Any]] = []
    if keep_rows:
        rows.extend(reader)
    else:
        for _ in reader:
            pass
    return reader.finish(rows)
