"""Amazon settlements -> a QAD customer invoice or credit note (the deposit) and GL journal(s).

Booking model (documents referenced ``AMZ-STL-<settlement id>``, built in settlement_books.py):
- Deposit: an invoice for a positive ``total-amount``, a credit note for a negative one (Amazon
  charged the seller), none for zero; it posts to the clearing account.
- One GL period: deposit document and journal POST on the settlement's end date, the period its
  sales and fees belong to, so the clearing account nets to zero in that period even when the
  deposit arrives in the next month (issue 21.5). Optional month split: one journal per month.
- Journal: every settlement line is booked to the account its (transaction-type, amount-type,
  amount-description) maps to by rule or account class (positive amounts credit, negative
  debit), aggregated per account and line kind; the balancing line is the clearing account.
  Lines no rule maps go to the suspense account and are flagged; so are settlements naming no
  marketplace (posted to ``default_settlement_marketplace``), Lending lines booked whole
  (engine/projectors/lending.py reclassifies the interest) and charge-clearing pairs that do
  not cancel.
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
from engine.projectors.settlement_books import Bucket, deposit_document, journals

__all__ = ["SettlementsProjector", "settlement_reference"]

ZERO = Decimal("0")
UNKNOWN_MARKETPLACE = "unknown marketplace"  # what peers show for a settlement naming none


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
        known = Counter(
            {n: c for n, c in names.items() if n.strip().lower() not in ("", UNKNOWN_MARKETPLACE)}
        )
        customer = self._customer(s, known)
        if customer is None:
            reason = f"no QAD customer for settlement currency {s.get('currency')}"
            out.parks.append(Park(sid, event.position, reason))
            return out

        cfg = self.mapper.cfg
        currency = str(s.get("currency") or "")
        deposit = str(s.get("deposit_date") or s.get("end") or "")[:10]
        posting = str(s.get("end") or deposit)[:10]
        dates = {"deposit": deposit, "posting": posting, "start": str(s.get("start") or "")}
        pos = (event.position,)
        doc = deposit_document(sid, ref, customer, currency, total, dates, cfg.clearing_account)
        if doc is not None:
            out.commands.append(make_command("qad.invoice.create", "qad", sid, ref, doc[1], pos))
        accounts = {
            "clearing": cfg.clearing_account,
            "carry_forward": self.mapper.class_account("carry_forward"),
        }
        for jref, body in journals(
            sid, ref, currency, total, buckets, dates, accounts, cfg.settlement_month_split
        ):
            out.commands.append(make_command("qad.journal.create", "qad", sid, jref, body, pos))
        if unmapped:
            self._flag(
                out,
                "SettlementLinesToSuspense",
                sid,
                event.position,
                suspense_account=cfg.suspense_account,
                lines=dict(sorted(unmapped.items())),
            )
        if not known:
            self._flag(
                out,
                "SettlementMarketplaceUnknown",
                sid,
                event.position,
                customer=customer,
                currency=currency,
                default_marketplace=cfg.default_settlement_marketplace,
            )
        loans = sorted({b[1] for b, a in buckets.items() if b[3] == "loan" and a != ZERO})
        if loans:
            self._flag(
                out,
                "SettlementLoanUnsplit",
                sid,
                event.position,
                loan_account=self.mapper.class_account("loan"),
                lines=loans,
            )
        self._flag_open_pairs(out, sid, event.position, buckets)
        out.state[event.key] = {"posted": True, "position": event.position}
        return out

    def _flag_open_pairs(
        self, out: Projection, sid: str, position: int, buckets: dict[Bucket, Decimal]
    ) -> None:
        """Charge-clearing lines come in pairs that cancel ([D] LMB: "Payable to Amazon" with
        its "Successful charge" card charge or its "Debt adjustment"): a leg without its match
        leaves the clearing-pair account open by that amount, so it is flagged."""
        legs: dict[str, Decimal] = {}
        for (_acct, label, _month, cls), amount in buckets.items():
            if cls == "clearing_pair":
                legs[label] = legs.get(label, ZERO) + amount
        open_amount = sum(legs.values(), ZERO)
        if open_amount != ZERO:
            self._flag(
                out,
                "SettlementClearingUnmatched",
                sid,
                position,
                clearing_pair_account=self.mapper.class_account("clearing_pair"),
                open_amount=str(open_amount),
                lines={k: str(v) for k, v in sorted(legs.items())},
            )

    def _flag(self, out: Projection, etype: str, sid: str, position: int, **data: Any) -> None:
        payload = {"settlement_id": sid, **data, "position": position}
        out.flags.append(
            NewEvent("engine.flags", etype, sid, payload, source=f"projector:{self.name}")
        )

    def _customer(self, s: dict[str, Any], names: Counter[str]) -> str | None:
        """The Amazon customer: by the rows' marketplace names, else (none named) the default
        settlement marketplace's, else by currency."""
        cfg = self.mapper.cfg
        by_name = {m.name.lower(): m for m in cfg.marketplaces.values() if m.name}
        for name, _n in names.most_common():
            mp = by_name.get(name.lower())
            if mp is not None and mp.currency == s.get("currency"):
                return mp.customer
        default = cfg.marketplaces.get(cfg.default_settlement_marketplace)
        if not names and default is not None and default.currency == s.get("currency"):
            return default.customer
        for mp in self.mapper.cfg.marketplaces.values():
            if mp.currency == s.get("currency"):
                return mp.customer
        return None

    def _bucketize(
        self, rows: list[dict[str, Any]], amounts: list[Decimal]
    ) -> tuple[dict[Bucket, Decimal], Counter[str]]:
        """Amounts per (GL account, line kind, posted month, account class); unmapped line
        kinds counted (-> suspense)."""
        cfg = self.mapper.cfg
        buckets: dict[Bucket, Decimal] = {}
        unmapped: Counter[str] = Counter()
        for row, amount in zip(rows, amounts, strict=True):
            if amount == ZERO:
                continue
            tt = str(row.get("transaction_type") or "")
            at = str(row.get("amount_type") or "")
            ad = str(row.get("amount_description") or "")
            hit = self.mapper.rule_for(tt, at, ad)
            if hit is None:
                key: Bucket = (cfg.suspense_account, f"UNMAPPED {tt}/{at}/{ad}", "", "")
                unmapped[f"{tt}/{at}/{ad}"] += 1
            else:
                key = (hit[0], f"{at}/{ad}", "", hit[1])
            posted = row.get("posted_date")
            if isinstance(posted, str) and len(posted) >= 7 and posted[4] == "-":
                key = (key[0], key[1], posted[:7], key[3])
            buckets[key] = buckets.get(key, ZERO) + amount
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
            for bucket, amount in buckets.items():
                key = "\x1f".join(bucket)
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
    ) -> tuple[Decimal, dict[Bucket, Decimal], Counter[str], Counter[str]] | None:
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
        buckets: dict[Bucket, Decimal] = {}
        for key, value in partial["buckets"].items():
            # Keys written before issue 16 have two parts (no month, no class).
            account, label, month, cls = [*key.split("\x1f"), "", ""][:4]
            buckets[(account, label, month, cls)] = Decimal(value)
        return total, buckets, Counter(partial["unmapped"]), Counter(partial["names"])
