"""Amazon Lending interest -> one QAD GL journal per loan-statement month.

A settlement carries a loan repayment as one line, principal and interest combined ([D] A2X,
wave-2 anchors §5.2), so the settlements projector books it whole to the loan liability
(class ``loan``) and flags ``SettlementLoanUnsplit``. The interest part is known only from
Amazon's loan statement; ``ml-connector import loan-statement`` appends one
``LoanInterestStated`` event per (currency, month[, loan]) from it, and this projector
reclassifies that interest out of the liability: debit ``loan_interest`` (expense), credit
``loan``, posted on the month's last day, reference ``AMZ-LOAN-<currency>-<YYYY-MM>[-<loan>]``.

A month already posted is never posted again; a later statement stating a different interest
for it is parked (correct it in QAD by hand: journals are not reversed by the connector).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from engine.commands.vocabulary import Park, make_command
from engine.log.records import StoredEvent
from engine.projectors.base import Projection, State
from engine.projectors.mapping import Mapper
from engine.projectors.settlement_books import month_end

__all__ = ["LENDING_STREAM", "LendingProjector", "loan_interest_reference"]

LENDING_STREAM = "amazon.lending"


def loan_interest_reference(currency: str, month: str, loan: str = "") -> str:
    return f"AMZ-LOAN-{currency}-{month}" + (f"-{loan}" if loan else "")


class LendingProjector:
    """Pure projector over ``amazon.lending``."""

    name = "lending"
    streams = (LENDING_STREAM,)

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper

    def state_keys(self, event: StoredEvent) -> list[str]:
        return [event.key]

    def project(self, event: StoredEvent, state: dict[str, State]) -> Projection:
        out = Projection()
        if event.type != "LoanInterestStated":
            return out
        p: dict[str, Any] = event.payload
        try:
            interest = Decimal(str(p["interest"]))
            month, currency = str(p["month"]), str(p["currency"])
            loan = str(p.get("loan") or "")
            if not interest.is_finite() or interest <= 0:
                raise InvalidOperation(f"interest {p['interest']!r} is not a positive amount")
            month_end(month)
        except (KeyError, ValueError, ArithmeticError) as exc:
            out.parks.append(Park(event.key, event.position, f"loan statement unreadable: {exc}"))
            return out
        prior = state.get(event.key, {})
        if prior.get("posted"):
            if Decimal(str(prior["interest"])) != interest:
                reason = (
                    f"loan interest {month} {currency} restated as {interest}, "
                    f"{prior['interest']} already posted: correct it in QAD by hand"
                )
                out.parks.append(Park(event.key, event.position, reason))
            return out
        ref = loan_interest_reference(currency, month, loan)
        what = f"Amazon Lending interest {month}" + (f" loan {loan}" if loan else "")
        amount = str(interest)
        body = {
            "reference": ref,
            "posting_date": month_end(month),
            "currency": currency,
            "description": f"{what} (loan statement)",
            "lines": [
                {
                    "account": self.mapper.class_account("loan_interest"),
                    "debit": amount,
                    "credit": "0",
                    "description": what,
                },
                {
                    "account": self.mapper.class_account("loan"),
                    "debit": "0",
                    "credit": amount,
                    "description": f"{what} out of the loan repayments",
                },
            ],
        }
        out.commands.append(
            make_command("qad.journal.create", "qad", event.key, ref, body, (event.position,))
        )
        out.state[event.key] = {"posted": True, "interest": amount, "position": event.position}
        return out
