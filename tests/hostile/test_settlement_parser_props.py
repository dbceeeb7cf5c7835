"""Hostile input for the settlement V2 parser: it reconciles to the cent or fails whole.

Valid documents come from the simulator's writer (all four locales, their real charsets);
mutations (truncation, wrong charset, shuffled/extra columns, random text) must end in a
reconciled ``ParsedSettlement`` or a ``SettlementError``/``ParseError``, never anything else.
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.adapters.amazon.reports import Document, open_text
from engine.adapters.amazon.settlement import (
    ParsedSettlement,
    SettlementError,
    parse_date,
    parse_settlement,
)
from engine.errors import ParseError
from engine.sim.amazon.documents import settlement_file
from engine.sim.amazon.settlements import SettlementRow, SimSettlement

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CURRENCY = {"US": "USD", "DE": "EUR", "UK": "GBP", "JP": "JPY"}
MP_NAME = {"US": "Amazon.com", "DE": "Amazon.de", "UK": "Amazon.co.uk", "JP": "Amazon.co.jp"}
# Text each locale's charset can carry (exercises the non-ASCII bytes of cp1252/cp932).
NON_ASCII = {"US": "Ünïcødé ✓", "DE": "Größe-Ü", "UK": "£-Pound", "JP": "日本語-ｶﾅ"}
T0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


@st.composite
def settlements(draw: st.DrawFn, locale: str | None = None, nonzero: bool = False) -> SimSettlement:
    loc = locale or draw(st.sampled_from(sorted(CURRENCY)))
    cur = CURRENCY[loc]
    q = Decimal(1) if cur == "JPY" else Decimal("0.01")
    start = T0 + draw(st.integers(0, 300)) * 86400.0
    n = draw(st.integers(1, 12))
    rows = []
    for i in range(n):
        minor = draw(st.integers(-500_000, 5_000_000))
        if nonzero and minor <= 0:
            minor = -minor + 1  # strictly positive: dropping a row always breaks the sum
        kind = draw(st.sampled_from(["Order", "Refund", "other-transaction"]))
        qty = str(draw(st.integers(1, 9)) * (-1 if kind == "Refund" else 1))
        rows.append(
            SettlementRow(
                kind,
                f"111-{i:07d}-0000001" if kind != "other-transaction" else "",
                "",
                "",
                MP_NAME[loc] if kind != "other-transaction" else "",
                "ItemPrice",
                draw(st.sampled_from(["Principal", "Tax", "Commission", NON_ASCII[loc]])),
                minor * q,
                "AFN",
                start + draw(st.integers(0, 13 * 86400)),
                f"{i}",
                f"SKU-{NON_ASCII[loc]}-{i}",
                qty if kind != "other-transaction" else "",
            )
        )
    sid = str(draw(st.integers(10**10, 10**11 - 1)))
    return SimSettlement(
        sid, "S", "NA", cur, 0, start, start + 14 * 86400, start + 17 * 86400, loc, (),
        rows, sum((r.amount for r in rows), Decimal(0)),
    )  # fmt: skip


def text_lines(st_: SimSettlement) -> list[str]:
    raw, charset = settlement_file(st_)
    return raw.decode(charset).splitlines(keepends=True)


def check_reconciled(p: ParsedSettlement, n_rows: int) -> None:
    """A result is never partial: every detail row counted and they sum to the total."""
    assert p.row_count == n_rows
    assert p.detail_sum == p.summary.total_amount
    assert sum((Decimal(r["amount"]) for r in p.rows), Decimal(0)) == p.summary.total_amount


@SETTINGS
@given(settlements())
def test_valid_settlements_parse_to_the_cent_in_every_locale(s: SimSettlement) -> None:
    for forced in (None, s.locale):
        p = parse_settlement(text_lines(s), locale=forced)
        check_reconciled(p, len(s.rows))
        assert p.locale == s.locale
        assert p.summary.settlement_id == s.settlement_id
        assert p.summary.total_amount == s.total and p.summary.currency == s.currency
        assert [Decimal(r["amount"]) for r in p.rows] == [r.amount for r in s.rows]
        assert [r["sku"] for r in p.rows] == [r.sku for r in s.rows]  # charset round trip
        assert [r["quantity"] for r in p.rows] == [
            int(r.quantity) if r.quantity else None for r in s.rows
        ]
        for r, row in zip(p.rows, s.rows, strict=True):
            day = datetime.fromtimestamp(row.posted, UTC).strftime("%Y-%m-%d")
            assert r["posted_date"].startswith(day)


@SETTINGS
@given(settlements(nonzero=True), st.data())
def test_truncated_documents_fail_whole(s: SimSettlement, data: st.DataObject) -> None:
    text = "".join(text_lines(s))
    # Cut anywhere before the final row's amount: at least one row's amount is lost or changed.
    last = text.rstrip("\r\n").rsplit("\r\n", 1)[-1]
    cut_max = len(text) - len(last) + last.index(format_amount_cell(last)) + 1
    cut = data.draw(st.integers(0, cut_max - 1))
    try:
        p = parse_settlement(text[:cut].splitlines(keepends=True))
    except SettlementError:
        return
    raise AssertionError(f"truncated document parsed: {p.row_count} rows of {len(s.rows)}")


def format_amount_cell(line: str) -> str:
    return line.split("\t")[14]  # "amount" in the simulator's 24-column layout


@SETTINGS
@given(settlements(), st.randoms(use_true_random=False), st.data())
def test_reordered_and_extra_columns_give_the_same_result(
    s: SimSettlement, rnd: object, data: st.DataObject
) -> None:
    lines = [ln.rstrip("\r\n").split("\t") for ln in text_lines(s)]
    width = len(lines[0])
    order = list(range(width))
    data.draw(st.randoms()).shuffle(order)
    extras = data.draw(
        st.lists(
            st.tuples(
                st.text(alphabet="abcxyz-", min_size=3, max_size=10).filter(
                    lambda n: n not in lines[0]
                ),
                st.text(alphabet=st.characters(exclude_characters="\t\r\n"), max_size=8),
            ),
            max_size=3,
        )
    )
    out = []
    for i, cells in enumerate(lines):
        moved = [cells[j] for j in order]
        for name, val in extras:
            moved.append(name if i == 0 else val)
        out.append("\t".join(moved) + "\r\n")
    a = parse_settlement(text_lines(s))
    b = parse_settlement(out)
    check_reconciled(b, len(s.rows))
    assert a.summary == b.summary and a.locale == b.locale
    assert a.rows == b.rows


LINE = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


@SETTINGS
@given(st.lists(LINE, max_size=8))
def test_random_text_only_raises_settlement_error(lines: list[str]) -> None:
    try:
        p = parse_settlement([ln + "\n" for ln in lines])
    except SettlementError:
        return
    check_reconciled(p, p.row_count)


CELL = st.one_of(
    st.sampled_from(["", "0", "-1", "1,5", "1.234,56", "NaN", "inf", "1e999999999", "sNaN",
                     "31/02/2024", "2024-13-01", "0001-01-01 00:00:00 +05:00",
                     "9999-12-31 23:59:59 -05:00", "12/31/95", "Order", "??", "\u00a0"]),
    st.text(max_size=12).map(lambda t: t.replace("\t", " ").replace("\n", " ").replace("\r", " ")),
)  # fmt: skip


@SETTINGS
@given(settlements(), st.data())
def test_corrupted_cells_fail_whole_or_reconcile(s: SimSettlement, data: st.DataObject) -> None:
    lines = [ln.rstrip("\r\n").split("\t") for ln in text_lines(s)]
    for _ in range(data.draw(st.integers(1, 4))):
        r = data.draw(st.integers(1, len(lines) - 1))
        c = data.draw(st.integers(0, len(lines[0]) - 1))
        lines[r][c] = data.draw(CELL)
    try:
        p = parse_settlement(["\t".join(c) + "\n" for c in lines])
    except SettlementError:
        return
    check_reconciled(p, p.row_count)


# --------------------------------------------------------------------- charsets (open_text)

WRONG = [
    ("DE", "utf-8"),  # cp1252 bytes declared UTF-8
    ("UK", "utf-8"),
    ("JP", "utf-8"),  # cp932 bytes declared UTF-8
    ("JP", "cp1252"),  # cp932 bytes declared cp1252
    ("US", "cp932"),  # UTF-8 bytes declared cp932
    ("US", "cp1252"),  # UTF-8 bytes declared cp1252 (mojibake, amounts intact)
    ("DE", "cp932"),
]


def parse_bytes(raw: bytes, charset: str | None, region: str = "NA") -> ParsedSettlement:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "doc.tsv"
        path.write_bytes(raw)
        doc = Document(path, False, charset, hashlib.sha256(raw).hexdigest(), len(raw))
        return parse_settlement(open_text(doc, region=region))


@pytest.mark.parametrize(("locale", "declared"), WRONG)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_wrong_charset_is_a_parse_error_or_reconciles(
    locale: str, declared: str, data: st.DataObject
) -> None:
    s = data.draw(settlements(locale=locale))
    raw, _ = settlement_file(s)
    try:
        p = parse_bytes(raw, declared)
    except ParseError:  # SettlementError is one, so is the decoder's
        return
    check_reconciled(p, len(s.rows))
    assert p.summary.total_amount == s.total


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([None, "utf-8", "cp1252", "cp932"]))
def test_random_bytes_only_raise_parse_error(raw: bytes, charset: str | None) -> None:
    try:
        p = parse_bytes(raw, charset, region="FE")
    except ParseError:
        return
    check_reconciled(p, p.row_count)


# --------------------------------------------------------------------- dates at the edges


@pytest.mark.parametrize(
    "text", ["0001-01-01 00:00:00 +05:00", "9999-12-31 23:59:59 -05:00", "0001-01-01T00:00:00 CET"]
)
def test_dates_out_of_range_after_the_offset_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text, "DMY")


def test_two_digit_year_95_is_1995_not_2095() -> None:
    # An FBA removal order can surface with a 1995 date; %y semantics (69-99 -> 19xx).
    assert parse_date("01/15/95", "MDY") == datetime(1995, 1, 15, tzinfo=UTC)
    assert parse_date("15.01.95", "DMY") == datetime(1995, 1, 15, tzinfo=UTC)
    assert parse_date("01/15/24", "MDY") == datetime(2024, 1, 15, tzinfo=UTC)


def test_huge_quantity_and_amount_exponents_fail_whole() -> None:
    base = text_lines(
        SimSettlement(
            "12345678901", "S", "NA", "USD", 0, T0, T0 + 86400, T0 + 2 * 86400, "US", (),
            [SettlementRow("Order", "111-0000001-0000001", "", "", "Amazon.com", "ItemPrice",
                           "Principal", Decimal("1.00"), "AFN", T0, "1", "SKU-A", "1")],
            Decimal("1.00"),
        )
    )  # fmt: skip
    cases = (
        (22, "1e999999999"),
        (22, "\u00b2"),
        (22, "9" * 5000),
        (14, "1e999999999"),
        (4, "9e999999"),
    )
    for col, value in cases:
        lines = [ln.rstrip("\r\n").split("\t") for ln in base]
        lines[1 if col == 4 else 2][col] = value
        if col == 14:
            lines.append(list(lines[2]))  # two huge amounts: the sum overflows the context
        with pytest.raises(SettlementError):
            parse_settlement(["\t".join(c) + "\n" for c in lines])
