"""Settlement V2 flat-file parser: locales, columns by name, reconciliation, quarantine reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine.adapters.amazon.settlement import (
    SettlementError,
    SettlementReader,
    parse_date,
    parse_settlement,
)

COLS = [
    "settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date",
    "total-amount", "currency", "transaction-type", "order-id", "merchant-order-id",
    "adjustment-id", "shipment-id", "marketplace-name", "amount-type", "amount-description",
    "amount", "fulfillment-id", "posted-date", "posted-date-time", "order-item-code",
    "merchant-order-item-id", "merchant-adjustment-item-id", "sku", "quantity-purchased",
    "promotion-id",
]  # fmt: skip


def doc(header_dates, total, currency, rows, *, cols=COLS, posted="", posted_dt=""):
    lines = ["\t".join(cols)]
    summary = {"settlement-id": "555", "total-amount": total, "currency": currency}
    summary.update(dict(zip(["settlement-start-date", "settlement-end-date", "deposit-date"],
                            header_dates, strict=True)))  # fmt: skip
    lines.append("\t".join(summary.get(c, "") for c in cols))
    for tt, at, desc, amount, qty in rows:
        r = {"settlement-id": "555", "transaction-type": tt, "order-id": "111-2222222-3333333",
             "amount-type": at, "amount-description": desc, "amount": amount,
             "posted-date": posted, "posted-date-time": posted_dt, "sku": "MLC-1000-F",
             "quantity-purchased": qty, "marketplace-name": "Amazon.x",
             "fulfillment-id": "AFN"}  # fmt: skip
        lines.append("\t".join(r.get(c, "") for c in cols))
    return [ln + "\r\n" for ln in lines]


ROWS_US = [("Order", "ItemPrice", "Principal", "1,234.56", "2"),
           ("Order", "ItemFees", "Commission", "-185.18", ""),
           ("other-transaction", "other-transaction", "Storage Fee", "-0.01", "")]  # fmt: skip


def test_us_layout_to_the_cent():
    lines = doc(("2026-02-15 07:00:00 UTC", "2026-03-01 07:00:00 UTC", "2026-03-03 07:00:00 UTC"),
                "1,049.37", "USD", ROWS_US, posted="02/20/26")  # fmt: skip
    p = parse_settlement(lines)
    assert p.locale == "US"
    assert p.summary.total_amount == Decimal("1049.37")
    assert p.summary.start == datetime(2026, 2, 15, 7, tzinfo=UTC)
    assert [r["amount"] for r in p.rows] == ["1234.56", "-185.18", "-0.01"]
    assert p.rows[0]["posted_date"] == "2026-02-20T00:00:00Z"
    assert p.rows[0]["quantity"] == 2 and p.rows[1]["quantity"] is None


def test_de_layout_decimal_comma_and_dotted_dates():
    rows = [("Order", "ItemPrice", "Principal", "1.234,56", "1"),
            ("Order", "ItemFees", "Commission", "-95,00", "")]  # fmt: skip
    lines = doc(("15.02.2026 00:00:00 UTC", "01.03.2026 00:00:00 UTC", "04.03.2026 00:00:00 UTC"),
                "1.139,56", "EUR", rows, posted="05.03.2026")  # fmt: skip
    p = parse_settlement(lines)
    assert p.locale == "DE"
    assert p.summary.total_amount == Decimal("1139.56")
    assert p.rows[1]["amount"] == "-95.00"
    assert p.rows[0]["posted_date"] == "2026-03-05T00:00:00Z"
    assert p.summary.deposit_date == datetime(2026, 3, 4, tzinfo=UTC)


def test_uk_layout_day_first_slashes():
    rows = [("Order", "ItemPrice", "Principal", "10.00", "1")]
    lines = doc(("03/04/2026 00:00:00 UTC", "17/04/2026 00:00:00 UTC", ""), "10.00", "GBP", rows,
                posted="05/04/2026")  # fmt: skip
    p = parse_settlement(lines)
    assert p.locale == "UK"
    assert p.summary.start == datetime(2026, 4, 3, tzinfo=UTC)  # 3 April, not 4 March
    assert p.summary.deposit_date is None
    assert p.rows[0]["posted_date"] == "2026-04-05T00:00:00Z"


def test_jp_layout_yen_without_decimals():
    rows = [("Order", "ItemPrice", "Principal", "12,500", "1"),
            ("Order", "ItemFees", "Commission", "-1,875", "")]  # fmt: skip
    lines = doc(("2026/03/01 00:00:00 UTC", "2026/03/15 00:00:00 UTC", "2026/03/18 00:00:00 UTC"),
                "10,625", "JPY", rows, posted="2026/03/05")  # fmt: skip
    p = parse_settlement(lines)
    assert p.locale == "JP"
    assert p.summary.total_amount == Decimal(10625)
    assert p.rows[0]["amount"] == "12500"


def test_posted_date_time_preferred_and_offsets():
    lines = doc(("2015-12-01T03:27:08+00:00", "2015-12-15T03:27:08+00:00", ""), "1,049.37", "USD",
                ROWS_US, posted="12/02/15", posted_dt="2015-12-02 10:00:00 PST")  # fmt: skip
    p = parse_settlement(lines)
    assert p.rows[0]["posted_date"] == "2015-12-02T18:00:00Z"


def test_columns_by_name_tolerate_missing_trailing_promotion_id_and_reordering():
    cols = [c for c in COLS if c != "promotion-id"]
    cols[6], cols[7] = cols[7], cols[6]  # transaction-type and order-id swapped
    lines = doc(("2026-02-15 07:00:00 UTC", "2026-03-01 07:00:00 UTC", ""), "1,049.37", "USD",
                ROWS_US, cols=cols)  # fmt: skip
    p = parse_settlement(lines)
    assert p.row_count == 3 and p.rows[0]["transaction_type"] == "Order"
    assert "promotion_id" not in p.rows[0]
    # short rows (trailing empty cells cut off) are padded, not rejected
    short = [ln.rstrip("\r\n").rstrip("\t") + "\n" for ln in lines]
    assert parse_settlement(short).row_count == 3


def test_bom_and_blank_lines():
    lines = doc(("2026-02-15 07:00:00 UTC", "2026-03-01 07:00:00 UTC", ""), "1,049.37", "USD",
                ROWS_US)  # fmt: skip
    lines[0] = "\ufeff" + lines[0]
    lines.insert(2, "\r\n")
    assert parse_settlement(lines).row_count == 3


def test_unreconciled_is_reported_with_reason_code():
    lines = doc(("2026-02-15 07:00:00 UTC", "2026-03-01 07:00:00 UTC", ""), "1,049.38", "USD",
                ROWS_US)  # fmt: skip
    with pytest.raises(SettlementError) as ei:
        parse_settlement(lines)
    assert ei.value.reason_code == "unreconciled"
    assert "1049.37" in str(ei.value) and "1049.38" in str(ei.value)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda ls: ls[:1], "no summary row"),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "before the summary"),
        (lambda ls: [*ls[:2], ls[2].replace("1,234.56", "12x.5")], "bad amount"),
        (lambda ls: [ls[0].replace("total-amount", "total")], "header lacks total-amount"),
        (lambda ls: [*ls, ls[2].replace("555", "556", 1)], "differs from the summary"),
        (lambda ls: [*ls[:2], ls[2].replace("1,234.56", "NaN")], "bad amount"),
        (lambda ls: [], "empty document"),
    ],
)
def test_parse_errors(mutate, needle):
    lines = doc(("2026-02-15 07:00:00 UTC", "2026-03-01 07:00:00 UTC", ""), "1,049.37", "USD",
                ROWS_US)  # fmt: skip
    with pytest.raises(SettlementError) as ei:
        parse_settlement(mutate(lines))
    assert ei.value.reason_code == "parse_error"
    assert needle in str(ei.value)


def test_streaming_reader_yields_before_the_end():
    def gen():
        yield from doc(("2026-02-15 07:00:00 UTC", "2026-03-01 07:00:00 UTC", ""), "0.00", "USD",
                       [])  # fmt: skip
        for _ in range(1000):
            yield "555\t\t\t\t\tUSD\tOrder\t\t\t\t\t\tItemPrice\tPrincipal\t1.00\n"
            yield "555\t\t\t\t\tUSD\tOrder\t\t\t\t\t\tItemPrice\tPrincipal\t-1.00\n"
        raise AssertionError("consumed past the first row")

    reader = SettlementReader(gen())
    first = next(iter(reader))
    assert first["amount"] == "1.00"


def test_forced_locale_and_slash_ambiguity():
    assert parse_date("03/04/26", "MDY") == datetime(2026, 3, 4, tzinfo=UTC)
    assert parse_date("03/04/26", "DMY") == datetime(2026, 4, 3, tzinfo=UTC)
    assert parse_date("26/3/4", "YMD") == datetime(2026, 3, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="unrecognised"):
        parse_date("March 3", "DMY")
    lines = doc(("2026-02-15 07:00:00 UTC", "2026-03-01 07:00:00 UTC", ""), "1.049,37", "USD",
                [("Order", "ItemPrice", "Principal", "1.049,37", "1")])  # fmt: skip
    assert parse_settlement(lines, locale="EU").summary.total_amount == Decimal("1049.37")
