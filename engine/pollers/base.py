"""What every poller shares: the result type, the sealer protocol and the run loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.errors import RetriableRemoteError

__all__ = ["PollResult", "Sealer", "run_every"]

log = logging.getLogger(__name__)


class Sealer(Protocol):
    """``engine.security.pii.PiiSealer`` as the pollers use it."""

    async def seal(self, record_key: str, value: dict[str, Any]) -> dict[str, Any]:
        """Deterministic AES-GCM envelope of ``value`` bound to ``record_key``."""
        ...


@dataclass(slots=True)
class PollResult:
    """What one ``poll_once`` did."""

    fetched: int = 0  # records fetched from Amazon
    appended: int = 0  # new events
    duplicates: int = 0  # re-fetched unchanged records
    quarantined: int = 0
    watermark: str | None = None
    notes: list[str] = field(default_factory=list)


async def run_every(
    poll_once: Callable[[], Awaitable[PollResult]], every_s: float, name: str
) -> None:
    """Call ``poll_once`` every ``every_s`` s until cancelled; retriable errors wait a cycle."""
    while True:
        try:
            res = await poll_once()
            log.info("%s: fetched %d, appended %d", name, res.fetched, res.appended)
        except RetriableRemoteError as exc:
            log.warning("%s: %s; retrying next cycle", name, type(exc).__name__)
        await asyncio.sleep(every_s)
