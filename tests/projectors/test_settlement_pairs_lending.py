"""Charge-clearing pairs that must cancel, and Amazon Lending interest moved out of the loan
account by the loan statement (pure projectors)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.log.records import StoredEvent
from engine.ops.reconcile import ReconcileReport, SettlementCheck, flag_note
from engine.ops.reconcile_render import render_csv, render_html, render_text
from engine.projectors.lending import LendingProjector
from engine.projectors.mapping import Mapper
from engine.projectors.settlements import SettlementsProjector
from tests.projectors.test_settlement_accounts import MAPPING, ev, net, settlement

OT = "other-transaction"
SALE = ("Order", "ItemPrice", "Principal", "200.00")


def _pair_flags(rows: list[tuple[str, str, str, str]]) -> list[Any]:
    out = SettlementsProjector(Mapper(MAPPING)).project(ev(settlement(rows)), {})
    assert any(c.kind == "qad.journal.create" for c in out.commands)  # posted either way
    return [f for f in out.flags if f.type == "SettlementClearingUnmatched"]


def test_matched_charge_pairs_raise_no_flag() -> None:
    rows = [
        SALE,
        (OT, OT, "Payable to Amazon", "-30.00"),
        (OT, OT, "Successful charge", "30.00"),
        (OT, OT, "Payable to Amazon", "-18.00"),
        (OT, OT, "Debt adjustment against another balance", "18.00"),
    ]
    assert _pair_flags(rows) == []


def test_a_payable_without_its_charge_is_flagged_with_the_open_amount() -> None:
    rows = [SALE, (OT, OT, "Payable to Amazon", "-30.00"), (OT, OT, "Successful charge", "12.00")]
    (flag,) = _pair_flags(rows)
    assert flag.payload["open_amount"] == "-18.00"
    assert flag.payload["clearing_pair_account"] == "1260"
    assert flag.payload["lines"] == {
        "other-transaction/Payable to Amazon": "-30.00",
        "other-transaction/Successful charge": "12.00",
    }
    (alone,) = _pair_flags([SALE, (OT, OT, "Successful charge", "30.00")])
    assert alone.payload["open_amount"] == "30.00"
    # reconcile shows it on the settlement (text, CSV and HTML read the same notes).
    note = flag_note(flag.type, flag.payload)
    assert "charge clearing open by -18.00 on 1260" in note
    check = SettlementCheck("S1", "USD", Decimal("182.00"), "", "", "", "Amazon.com", notes=[note])
    report = ReconcileReport([check])
    assert f"    note: {note}" in render_text(report)
    assert "note" in render_csv(report) and note in render_html(report)


def loan_event(payload: dict[str, Any], position: int = 9) -> StoredEvent:
    key = ":".join(str(payload[k]) for k in ("currency", "month"))
    return StoredEvent(
        position, "amazon.lending", "LoanInterestStated", key, "d", payload, "test",
        datetime(2026, 11, 1, tzinfo=UTC),
    )  # fmt: skip


def test_loan_interest_is_moved_from_the_loan_account_to_interest_expense() -> None:
    proj = LendingProjector(Mapper(MAPPING))
    out = proj.project(loan_event({"month": "2026-02", "currency": "USD", "interest": "12.40"}), {})
    (cmd,) = out.commands
    assert cmd.kind == "qad.journal.create" and cmd.reference == "AMZ-LOAN-USD-2026-02"
    assert cmd.body["posting_date"] == "2026-02-28"  # the month's last day
    assert net(cmd.body["lines"]) == {"6900": Decimal("-12.40"), "2500": Decimal("12.40")}
    state = {"USD:2026-02": out.state["USD:2026-02"]}
    again = proj.project(
        loan_event({"month": "2026-02", "currency": "USD", "interest": "12.40"}), state
    )
    assert not again.commands and not again.parks  # posted once
    restated = proj.project(
        loan_event({"month": "2026-02", "currency": "USD", "interest": "13.00"}), state
    )
    assert not restated.commands and "already posted" in restated.parks[0].reason


def test_loan_accounts_follow_the_configured_classes() -> None:
    cfg = dataclasses.replace(MAPPING, accounts={"loan": "2510", "loan_interest": "6910"})
    out = LendingProjector(Mapper(cfg)).project(
        loan_event({"month": "2026-03", "currency": "USD", "interest": "5.00", "loan": "L-2"}), {}
    )
    (cmd,) = out.commands
    assert cmd.reference == "AMZ-LOAN-USD-2026-03-L-2"
    assert net(cmd.body["lines"]) == {"6910": Decimal("-5.00"), "2510": Decimal("5.00")}


def test_an_unreadable_statement_row_is_parked_not_posted() -> None:
    proj = LendingProjector(Mapper(MAPPING))
    for bad in ({"month": "2026-13", "currency": "USD", "interest": "1"},
                {"month": "2026-01", "currency": "USD", "interest": "-1"},
                {"month": "2026-01", "currency": "USD", "interest": "NaN"}):  # fmt: skip
        out = proj.project(loan_event(bad), {})
        assert not out.commands and out.parks, bad
