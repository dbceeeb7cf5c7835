"""What every QAD conversation shares: keyed reads, write envelopes, and the framework names.

Tenant-specific names (paths, views, browse ids, column keys, body fields) come from the
profile (``settings.paths`` / ``settings.browses`` / ``settings.fields``). The names below are
QAD's REST framework itself (the envelope of every write, the record plurals of the public
loaders, the row-state fields), which the profile does not expose because no tenant is known
to differ on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from engine.errors import RetriableRemoteError

from .settings import QadSettings
from .transport import Params, Transport

__all__ = [
    "CONCURRENCY_HASH",
    "CUSTOMER_INVOICES",
    "DATA_OPERATION",
    "ITEMS",
    "JOURNAL_ENTRIES",
    "SALES_ORDER_HEADERS",
    "SALES_ORDER_LINES",
    "SUPPLEMENTARY",
    "URI",
    "Doc",
    "Wire",
    "dec",
    "qdate",
    "records",
    "retrying",
]

log = logging.getLogger(__name__)
Doc = dict[str, Any]
T = TypeVar("T")

SUPPLEMENTARY = "supplementaryMessages"
DATA_OPERATION = "dataOperation"
CONCURRENCY_HASH = "concurrencyHash"
URI = "uri"
SALES_ORDER_HEADERS = "salesOrderHeaders"
SALES_ORDER_LINES = "salesOrderLines"
CUSTOMER_INVOICES = "customerInvoices"
JOURNAL_ENTRIES = "journalEntries"
ITEMS = "items"


def dec(value: Any) -> Decimal:
    """A QAD number as Decimal ("" and null are 0)."""
    return Decimal(str(value if value not in (None, "") else 0))


def qdate(d: date) -> str:
    """A date the way QAD's sales order REST takes it (midnight UTC)."""
    return f"{d.isoformat()}T00:00:00.000Z"


def records(doc: Any, plural: str) -> list[Doc]:
    """``data.<plural>`` of a QAD answer (a list of records), or []."""
    data = doc.get("data") if isinstance(doc, dict) else None
    recs = data.get(plural) if isinstance(data, dict) else None
    return [r for r in recs or [] if isinstance(r, dict)]


class Wire:
    """Keyed reads and write envelopes over one started Transport."""

    def __init__(self, transport: Transport, settings: QadSettings) -> None:
        self.t = transport
        self.settings = settings

    def domain(self, **extra: str) -> dict[str, str]:
        """The query every ``api/erp`` call carries (``domainCode=...``), plus ``extra``."""
        return {self.settings.fields.domain: self.settings.domain, **extra}

    async def get(self, path: str, plural: str, params: Mapping[str, str]) -> list[Doc]:
        doc = await self.t.json("GET", path, params=self.domain(**params))
        return records(doc, plural)

    async def step(self, path: str, plural: str, params: Params, body: Doc) -> list[Doc]:
        """A POST that only asks QAD to default/validate a record: nothing is committed, so a
        lost answer is an ordinary retriable failure, not an unknown outcome. Retried here a
        few times: an order with charge lines takes many steps before its one commit, and
        redoing all of them for one blip would rarely get through a flaky link [I]."""
        for attempt in range(STEP_TRIES):
            try:
                doc = await self.t.json("POST", path, params=params, body=body)
                return records(doc, plural)
            except RetriableRemoteError:
                if attempt == STEP_TRIES - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    async def commit(self, path: str, plural: str, params: Params, rows: list[Doc]) -> list[Doc]:
        """A committing POST: ``{"supplementaryMessages": [], plural: rows}``."""
        body = {SUPPLEMENTARY: [], plural: rows}
        doc = await self.t.json("POST", path, params=params, body=body, write=True)
        return records(doc, plural)


STEP_TRIES = 3  # non-committing steps (fieldChange): safe to repeat
START_TRIES = 6  # a blip (503, dropped answer) while starting must not abort the whole run


async def retrying(step: Callable[[], Awaitable[T]]) -> T:
    """Run a start-up step, retrying transient failures with a short doubling pause."""
    for attempt in range(START_TRIES):
        try:
            return await step()
        except RetriableRemoteError as exc:
            if attempt == START_TRIES - 1:
                raise
            log.info("qad start-up: %s; retrying", exc)
            await asyncio.sleep(0.25 * 2**attempt)
    raise AssertionError("unreachable")
