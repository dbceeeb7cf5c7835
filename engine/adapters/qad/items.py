"""The item master: the catalog through ``qad.browses.item`` (gp340), one item by keyed GET."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from .browsing import Browser
from .models import Item
from .settings import QadSettings
from .wire import ITEMS, Wire, dec

__all__ = ["Items"]


class Items:
    def __init__(self, wire: Wire, browser: Browser, settings: QadSettings) -> None:
        self.wire = wire
        self.browser = browser
        self.settings = settings

    def from_row(self, row: Mapping[str, Any]) -> Item:
        b = self.settings.browses
        price = row.get(b.item_price_column)
        return Item(
            code=str(row.get(b.item_code_column) or ""),
            description=str(row.get(b.item_description_column) or ""),
            unit_of_measure=str(row.get(b.item_unit_column) or ""),
            list_price=dec(price) if price not in (None, "") else None,
            status=str(row.get(b.item_status_column) or ""),
            raw=dict(row),
        )

    async def iter_items(self, page_size: int | None = None) -> AsyncIterator[Item]:
        async for row in self.browser.rows(self.settings.browses.item, page_size=page_size):
            yield self.from_row(row)

    async def get_item(self, code: str) -> Item | None:
        # The item entity's record names are QAD's public ones (unchanged by any known tenant).
        recs = await self.wire.get(self.settings.paths.items, ITEMS, {"itemCode": code})
        if not recs:
            return None
        rec = recs[0]
        return Item(
            code=str(rec.get("itemCode")),
            description=str(rec.get("description") or ""),
            unit_of_measure=str(rec.get("unitOfMeasure") or ""),
            list_price=dec(rec["listPrice"]) if rec.get("listPrice") is not None else None,
            status=str(rec.get("itemStatus") or ""),
            raw=rec,
        )
