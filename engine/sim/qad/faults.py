"""Declarative, seeded fault rules for the QAD simulator (Python API and ``/__sim/faults``)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FAULT_KINDS", "FaultPlan", "FaultRule"]

FAULT_KINDS = frozenset(
    {
        "status",  # answer `status` before handling (nothing committed)
        "latency",  # sleep `delay_s`, then handle normally
        "drop",  # drop the connection before handling (nothing committed, no answer)
        "commit_then_stall",  # handle + commit, then stall `delay_s` (client times out)
        "commit_then_drop",  # handle + commit, then drop the connection without an answer
        "commit_then_truncate",  # handle + commit, send half the answer, close the connection
        "expire_tokens",  # invalidate every access token, then handle (-> 401)
        "business_error",  # HTTP 200 submitResult failure with `message`
    }
)


@dataclass(slots=True)
class FaultRule:
    """One rule. Empty matchers match everything; ``times=0`` fires without limit."""

    kind: str
    # Substring of the path after the tenant root; a trailing "$" anchors it at the end, so
    # "unplannedReceives$" hits the commit but not its validateAndAssignDefaultsLine steps.
    path: str = ""
    method: str = ""
    reference: str = ""  # only requests whose body contains this text
    status: int = 500
    delay_s: float = 0.0
    message: str = ""
    times: int = 1
    probability: float = 1.0
    tenant: str = ""
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FaultPlan:
    """The simulator's active rules; the first matching rule fires."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self.fired: list[tuple[str, str]] = []
        self._rng = random.Random(seed)

    def add(self, kind: str, **kwargs: Any) -> FaultRule:
        rule = FaultRule(kind, **kwargs)
        self.rules.append(rule)
        return rule

    def add_json(self, spec: Mapping[str, Any]) -> FaultRule:
        fields = {f.name for f in dataclasses.fields(FaultRule)} - {"fired"}
        unknown = set(spec) - fields
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return self.add(**dict(spec))

    def clear(self) -> None:
        self.rules.clear()

    def match(self, *, tenant: str, method: str, path: str, body: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.times and rule.fired >= rule.times:
                continue
            if rule.tenant and rule.tenant != tenant:
                continue
            if rule.method and rule.method.upper() != method.upper():
                continue
            if rule.path and not _path_matches(rule.path, path):
                continue
            if rule.reference and rule.reference not in body:
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            rule.fired += 1
            self.fired.append((rule.kind, path))
            return rule
        return None


def _path_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("$"):
        return path.endswith(pattern[:-1])
    return pattern in path
