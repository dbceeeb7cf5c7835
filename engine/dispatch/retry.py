"""Retry policy (pure): what to do after a failed attempt.

Exponential backoff with full jitter (delay = uniform(0, min(cap, base * 2**(n-1)))), never
shorter than the remote's ``Retry-After``. Fatal errors park at once with the remote's text;
retriable ones park after ``max_attempts`` with the last error text. A write whose outcome is
unknown (UnknownOutcome, a timeout) becomes 'unknown': the next attempt looks it up first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from engine.adapters.amazon.roles import is_role_refusal, role_fix, role_hint
from engine.errors import (
    ConfigError,
    DataError,
    FatalRemoteError,
    RemoteError,
    RetriableRemoteError,
    UnknownOutcome,
)

__all__ = ["Decision", "RetryPolicy"]

Action = Literal["retry", "unknown", "parked"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome to record and, when retrying, how long to wait."""

    outcome: Action
    delay_s: float
    reason: str


@dataclass(slots=True)
class RetryPolicy:
    """Backoff parameters; ``rng`` is injectable so tests are deterministic."""

    base_s: float = 2.0
    cap_s: float = 600.0
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Delay before try ``attempt + 1`` (``attempt`` >= 1 tries so far)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        delay = self.rng.uniform(0.0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def decide(self, attempt: int, error: BaseException) -> Decision:
        """After try number ``attempt`` (1-based) failed with ``error``."""
        text = error_text(error)
        # A tenant profile the engine cannot trust (e.g. a look-up that cannot prove a document
        # absent) parks with its own text: retrying could post the document twice.
        if isinstance(error, FatalRemoteError | DataError | ConfigError):
            if is_role_refusal(error) and (hint := role_hint("", error)) is not None:
                # 403 for a missing SP-API role (e.g. Product Listing): park with the role and
                # the fix; `replay` re-sends once the seller has authorised the role.
                text = f"{text}; probably missing SP-API role '{hint.role}': {role_fix(hint)}"
            return Decision("parked", 0.0, text)
        if isinstance(error, RetriableRemoteError | TimeoutError):
            uncertain = isinstance(error, UnknownOutcome | TimeoutError)
            if attempt >= self.max_attempts:
                return Decision(
                    "parked", 0.0, f"gave up after {attempt} attempts; last error: {text}"
                )
            retry_after = error.retry_after if isinstance(error, RemoteError) else None
            return Decision(
                "unknown" if uncertain else "retry", self.backoff(attempt, retry_after), text
            )
        # A bug or unexpected input in one command must not stop the others: park it.
        return Decision("parked", 0.0, f"internal error: {text}")


def error_text(error: BaseException) -> str:
    """One line naming the error class and its message (the remote's text for Rejected)."""
    message = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {message}"[:1000]
