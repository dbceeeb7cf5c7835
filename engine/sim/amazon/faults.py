"""Seeded, declarative fault injection shared by the Python API and ``/__sim/faults``."""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["KINDS", "FaultInjector", "FaultRule"]

KINDS = (
    "status",  # answer ``status`` (500/503/...) in the SP-API error envelope
    "throttle",  # 429 QuotaExceeded whatever the bucket says
    "latency",  # sleep ``delay`` real seconds before answering
    "drop",  # close the connection without an answer
    "truncate",  # send half of the body, then close
    "expire_token",  # 403 "access token ... expired" although the token is fresh
    "expire_next_token",  # a request carrying a paging token gets 400 (token expired)
    "undecodable_next_token",  # ... gets 400 "We could not decode your NextToken" [C models#2382]
    "report_outcome",  # the next created reports end in ``outcome`` (FATAL/CANCELLED)
    "listing_not_applied",  # listings submissions are ACCEPTED but never applied
    "expire_url",  # a report document download answers 403 "Request has expired"
    "duplicate_page_item",  # a next page (getReports) repeats the previous page's last item
    "redirect",  # a document download answers 302 to ``location`` ("" = the same URL, relative)
)


@dataclass(slots=True)
class FaultRule:
    id: int
    kind: str
    operation: str | None = None
    region: str | None = None
    status: int = 503
    delay: float = 0.0
    count: int | None = 1
    probability: float = 1.0
    outcome: str = "FATAL"
    skip: int = 0  # let this many matching requests through first (e.g. fault page 2, not 1)
    location: str = ""  # redirect target

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self.rules: list[FaultRule] = []

    def add(self, kind: str, **options: Any) -> int:
        """Add a rule; ``count=None`` keeps it until removed. Returns the rule id."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        allowed = set(FaultRule.__dataclass_fields__) - {"id", "kind"}
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        rule = FaultRule(next(self._ids), kind, **options)
        self.rules.append(rule)
        return rule.id

    def remove(self, rule_id: int) -> None:
        self.rules = [r for r in self.rules if r.id != rule_id]

    def clear(self) -> None:
        self.rules.clear()

    def take(
        self,
        kinds: tuple[str, ...],
        operation: str | None,
        region: str | None,
        *,
        named_only: bool = False,
    ) -> FaultRule | None:
        """The first matching rule of one of ``kinds``, consuming one of its uses.

        ``named_only``: only rules naming ``operation`` match (the LWA endpoint uses it, so that
        an "every SP-API operation" rule does not also hit token exchanges)."""
        for rule in self.rules:
            if rule.kind not in kinds:
                continue
            if (rule.operation is not None or named_only) and rule.operation != operation:
                continue
            if rule.region is not None and rule.region != region:
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.remove(rule.id)
            return rule
        return None
