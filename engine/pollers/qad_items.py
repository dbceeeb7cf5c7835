"""QAD item master -> ``qad.items`` events (the source of the catalog -> listings flow)."""

from __future__ import annotations

from collections.abc import Iterable

from engine.adapters.qad.client import QadClient
from engine.log.ports import EventLog
from engine.log.records import NewEvent
from engine.pollers.base import PollResult

__all__ = ["QadItemsPoller"]


class QadItemsPoller:
    """Reads the item master (paged browse) and appends each item; unchanged items dedupe."""

    name = "qad.items"

    def __init__(
        self, client: QadClient, log: EventLog, items: Iterable[str] | None = None
    ) -> None:
        self.client = client
        self.log = log
        # Only items that are mapped to an Amazon SKU matter for listings; None = all.
        self.items = frozenset(items) if items is not None else None

    async def poll_once(self) -> PollResult:
        res = PollResult()
        events = []
        async for item in self.client.iter_items():
            res.fetched += 1
            if self.items is not None and item.code not in self.items:
                continue
            events.append(
                NewEvent(
                    "qad.items",
                    "ItemFetched",
                    item.code,
                    {
                        "item_code": item.code,
                        "description": item.description,
                        "list_price": None if item.list_price is None else str(item.list_price),
                        "status": item.status,
                        "unit_of_measure": item.unit_of_measure,
                    },
                    source="qad:browse:items",
                )
            )
        appended = await self.log.append(events, bookmark=(self.name, {"items": res.fetched}))
        res.appended, res.duplicates = appended.appended, appended.duplicates
        return res
