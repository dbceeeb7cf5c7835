"""Amazon settlements -> a QAD customer invoice (the deposit) and a GL journal entry.

Booking model (both documents referenced ``AMZ-STL-<settlement id>``):
- Invoice: the marketplace's Amazon customer owes the deposit ``total-amount`` (dated and due on
  the deposit date); its single line credits the settlement clearing account.
- One GL period: invoice and journal both POST on the settlement's end date, the period its
  sales and fees belong to, so the clearing account nets to zero in that period even when the
  deposit arrives in the next month (issue 21.5).
- Journal: every settlement line is booked to the account its (transaction-type, amount-type,
  amount-description) maps to (positive amounts credit, negative debit), aggregated per account
  and line kind; the balancing line debits the clearing account with the total. The clearing
  account therefore nets to zero, the journal balances, and invoice + journal reconcile to
  ``total-amount`` to the cent. Lines no rule maps go to the suspense account and are flagged.
A settlement whose lines do not sum to its total is parked, never half-posted.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.commands.vocabulary import Park, make_command
from engine.log.records import NewEvent, StoredEvent
from engine.projectors.base import Projection, State
from engine.projectors.mapping import Mapper

__all__ = ["SettlementsProjector", "settlement_reference"]

ZERO = Decimal("0")


def _exact_money(d: Decimal) -> bool:
    """Finite, below 1e16 and in whole millionths: sums of such amounts stay exact."""
    return d.is_finite() and d.adjusted() <= 15 and int(d.as_tuple().exponent) >= -6


def settlement_reference(settlement_id: str) -> str:
    return f"AMZ-STL-{settlement_id}"


class SettlementsProjector:
    """Pure projector over ``amazon.settlements``."""

    name = "settlements"
    streams = ("amazon.settlements",)
    batch_size = 1  # one event holds a whole report (100k rows): project them one at a time

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper

    def state_keys(self, event: StoredEvent) -> list[str]:
        return [event.key]

    def project(self, event: StoredEvent, state: dict[str, State]) -> Projection:
        out = Projection()
        prior = state.get(event.key, {})
        if prior.get("posted"):
            return out  # the same settlement seen again (another document): posted once
        if event.type == "SettlementRows":
            return self._add_chunk(event, prior)
        if event.type != "SettlementFetched":
            return out  # quarantined documents carry nothing to post
        s: dict[str, Any] = event.payload
        sid = str(s.get("settlement_id") or event.key)
        ref = settlement_reference(sid)
        if "rows" not in s and isinstance(s.get("chunks"), int):
            acc = self._chunked(s, prior, event.position, sid, out)
            if acc is None:
                return out
            total, buckets, unmapped, names = acc
        else:
            rows = s.get("rows") or []
            try:
                if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                    raise TypeError("rows is not a list of objects")
                total = Decimal(str(s["total_amount"]))
                amounts = [Decimal(str(r["amount"])) for r in rows]
                if not all(_exact_money(a) for a in [total, *amounts]):
                    raise InvalidOperation("amount not finite or out of range")
            except (KeyError, TypeError, ArithmeticError) as exc:
                out.parks.append(Park(sid, event.position, f"settlement not readable: {exc!r}"))
                return out
            if sum(amounts, ZERO) != total:
                reason = (
                    f"does not reconcile: lines sum to {sum(amounts, ZERO)}, total-amount {total}"
                )
                out.parks.append(Park(sid, event.position, reason))
                return out
            buckets, unmapped = self._bucketize(rows, amounts)
            names = Counter(
                str(r.get("marketplace_name")) for r in rows if r.get("marketplace_name")
            )
        customer = self._customer(s, names)
        if customer is None:
            reason = f"no QAD customer for settlement currency {s.get('currency')}"
            out.parks.append(Park(sid, event.position, reason))
            return out

        cfg = self.mapper.cfg
        currency = str(s.get("currency") or "")
        deposit = str(s.get("deposit_date") or s.get("end") or "")[:10]
        posting = str(s.get("end") or deposit)[:10]
        lines = []
        for (account, label), amount in sorted(buckets.items()):
            if amount == ZERO:
                continue
            debit, credit = (ZERO, amount) if amount > 0 else (-amount, ZERO)
            lines.append(
                {
                    "account": account,
                    "debit": str(debit),
                    "credit": str(credit),
                    "description": label,
                }
            )
        debit, credit = (total, ZERO) if total >= 0 else (ZERO, -total)
        lines.append(
            {
                "account": cfg.clearing_account,
                "debit": str(debit),
                "credit": str(credit),
                "description": f"Amazon settlement {sid} deposit",
            }
        )
        invoice = {
            "reference": ref,
            "customer": customer,
            "invoice_date": deposit,
            "due_date": deposit,
            "posting_date": posting,  # the journal's: one GL period for both documents
            "currency": currency,
            "amount": str(total),
            "description": f"Amazon settlement {sid}",
            "lines": [
                {
                    "account": cfg.clearing_account,
                    "amount": str(total),
                    "description": f"Amazon settlement {sid} deposit",
                }
            ],
        }
        journal = {
            "reference": ref,
            "posting_date": posting,
            "currency": currency,
            "description": f"Amazon settlement {sid} {str(s.get('start') or '')[:10]}..{posting}",
            "lines": lines,
        }
        pos = (event.position,)
        out.commands.append(make_command("qad.invoice.create", "qad", sid, ref, invoice, pos))
        out.commands.append(make_command("qad.journal.create", "qad", sid, ref, journal, pos))
        if unmapped:
            out.flags.append(
                NewEvent(
                    "engine.flags",
                    "SettlementLinesToSuspense",
                    sid,
                    {
                        "settlement_id": sid,
                        "suspense_account": cfg.suspense_account,
                        "lines": dict(sorted(unmapped.items())),
                        "position": event.position,
                    },
                    source=f"projector:{self.name}",
                )
            )
        out.state[event.key] = {"posted": True, "position": event.position}
        return out

    def _customer(self, s: dict[str, Any], names: Counter[str]) -> str | None:
        """The Amazon customer: by the rows' marketplace names, else by currency."""
        by_name = {m.name.lower(): m for m in self.mapper.cfg.marketplaces.values() if m.name}
        for name, _n in names.most_common():
            mp = by_name.get(name.lower())
            if mp is not None and mp.currency == s.get("currency"):
                return mp.customer
        for mp in self.mapper.cfg.marketplaces.values():
            if mp.currency == s.get("currency"):
                return mp.customer
        return None

    def _bucketize(
        self, rows: list[dict[str, Any]], amounts: list[Decimal]
    ) -> tuple[dict[tuple[str, str], Decimal], Counter[str]]:
        """Amounts per (GL account, line kind); unmapped line kinds counted (-> suspense)."""
        cfg = self.mapper.cfg
        buckets: dict[tuple[str, str], Decimal] = {}
        unmapped: Counter[str] = Counter()
        for row, amount in zip(rows, amounts, strict=True):
            if amount == ZERO:
                continue
            tt = str(row.get("transaction_type") or "")
            at = str(row.get("amount_type") or "")
            ad = str(row.get("amount_description") or "")
            account = self.mapper.account_for(tt, at, ad)
            if account is None:
                account = cfg.suspense_account
                unmapped[f"{tt}/{at}/{ad}"] += 1
            label = f"{at}/{ad}" if account != cfg.suspense_account else f"UNMAPPED {tt}/{at}/{ad}"
            buckets[(account, label)] = buckets.get((account, label), ZERO) + amount
        return buckets, unmapped

    # -- big settlements: rows arrive in SettlementRows chunks before their header ------------

    def _add_chunk(self, event: StoredEvent, prior: State) -> Projection:
        """Fold one chunk of rows into the settlement's running totals (its state)."""
        out = Projection()
        p: dict[str, Any] = event.payload
        rid = str(p.get("report_id") or "")
        partial: dict[str, Any] = dict(prior.get("partial") or {})
        if partial.get("report_id") != rid:
            partial = {"report_id": rid, "chunks": [], "rows": 0, "sum": "0", "buckets": {},
                       "unmapped": {}, "names": {}}  # fmt: skip
        index = p.get("chunk")
        if index in partial["chunks"]:
            return out  # a chunk read twice changes nothing
        rows = p.get("rows")
        try:
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise TypeError("rows is not a list of objects")
            amounts = [Decimal(str(r["amount"])) for r in rows]
            if not all(_exact_money(a) for a in amounts):
                raise InvalidOperation("amount not finite or out of range")
        except (KeyError, TypeError, ArithmeticError) as exc:
            partial["bad"] = f"settlement not readable: {exc!r}"
        else:
            buckets, unmapped = self._bucketize(rows, amounts)
            acc = {k: Decimal(v) for k, v in partial["buckets"].items()}
            for (account, label), amount in buckets.items():
                key = f"{account}\x1f{label}"
                acc[key] = acc.get(key, ZERO) + amount
            partial["buckets"] = {k: str(v) for k, v in acc.items()}
            partial["unmapped"] = dict(Counter(partial["unmapped"]) + unmapped)
            names = Counter(partial["names"])
            names.update(str(r.get("marketplace_name")) for r in rows if r.get("marketplace_name"))
            partial["names"] = dict(names)
            partial["sum"] = str(Decimal(partial["sum"]) + sum(amounts, ZERO))
            partial["rows"] += len(rows)
        partial["chunks"] = [*partial["chunks"], index]
        out.state[event.key] = {**prior, "partial": partial}
        return out

    def _chunked(
        self, s: dict[str, Any], prior: State, position: int, sid: str, out: Projection
    ) -> tuple[Decimal, dict[tuple[str, str], Decimal], Counter[str], Counter[str]] | None:
        """The header of a chunked settlement: its totals if complete and reconciled, else a
        park on ``out`` (and None)."""
        partial: dict[str, Any] = prior.get("partial") or {}
        n = int(s["chunks"])
        if partial.get("bad") and partial.get("report_id") == str(s.get("report_id") or ""):
            out.parks.append(Park(sid, position, str(partial["bad"])))
            return None
        complete = (
            partial.get("report_id") == str(s.get("report_id") or "")
            and sorted(partial.get("chunks", []), key=str) == sorted(range(n), key=str)
            and partial.get("rows") == s.get("row_count")
        )
        if not complete:
            got = len(partial.get("chunks", []))
            out.parks.append(Park(sid, position, f"settlement rows incomplete: {got}/{n} chunks"))
            return None
        try:
            total = Decimal(str(s["total_amount"]))
            if not _exact_money(total):
                raise InvalidOperation("amount not finite or out of range")
        except (KeyError, ArithmeticError) as exc:
            out.parks.append(Park(sid, position, f"settlement not readable: {exc!r}"))
            return None
        lines_sum = Decimal(partial["sum"])
        if lines_sum != total:
            reason = f"does not reconcile: lines sum to {lines_sum}, total-amount {total}"
            out.parks.append(Park(sid, position, reason))
            return None
        buckets: dict[tuple[str, str], Decimal] = {}
        for key, value in partial["buckets"].items():
            account, _, label = key.partition("\x1f")
            buckets[(account, label)] = Decimal(value)
        return total, buckets, Counter(partial["unmapped"]), Counter(partial["names"])
