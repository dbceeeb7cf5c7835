"""Ground truth for tests: what the simulated Amazon holds right now."""

from __future__ import annotations

from engine.sim.amazon.data import SimOrder
from engine.sim.amazon.settlements import SimSettlement
from engine.sim.amazon.world import World

__all__ = ["Truth"]


class Truth:
    def __init__(self, world: World) -> None:
        self._w = world

    def _seller(self, seller: str | None) -> str:
        return seller or self._w.configs[0].name

    def orders(
        self, seller: str | None = None, marketplace_id: str | None = None
    ) -> list[SimOrder]:
        """Orders placed up to now (``o.status(t)``/``o.lines``/``o.total()`` give their state)."""
        name, now = self._seller(seller), self._w.now()
        return [
            o
            for o in self._w.book.purchased_between(self._w.book.origin, now)
            if o.seller == name and marketplace_id in (None, o.marketplace.marketplace_id)
        ]

    def order(self, order_id: str) -> SimOrder:
        return self._w.book.by_id[order_id]

    def settlements(
        self, seller: str | None = None, region: str | None = None
    ) -> list[SimSettlement]:
        """Settlements published by now (their report exists)."""
        name, now = self._seller(seller), self._w.now()
        si = next(i for i, c in enumerate(self._w.configs) if c.name == name)
        out = []
        for r in self._w.configs[si].regions:
            if region not in (None, r):
                continue
            for cur in sorted({m.currency for m in self._w.book_markets(si, r)}):
                out.extend(self._w.settlements.closed(name, r, cur, now))
        return out

    def fba_inventory(self, seller: str | None, marketplace_id: str) -> dict[str, int]:
        from engine.sim.amazon.inventory import fba_quantities

        si = self._index(seller)
        q = fba_quantities(self._w, si, marketplace_id, self._w.now())
        return {sku: v["fulfillable"] for sku, v in q.items()}

    def mfn_inventory(self, seller: str | None, marketplace_id: str) -> dict[str, int]:
        from engine.sim.amazon.inventory import mfn_quantity

        si = self._index(seller)
        return {
            c.sku: mfn_quantity(self._w, si, marketplace_id, c.sku, self._w.now())
            for c in self._w.book.catalog
            if c.fulfillment == "MFN"
        }

    def listings(self, seller: str | None = None) -> dict[str, dict[str, object]]:
        """Every listing's applied state (catalog SKUs and listing-only ones such as ODD_SKU)."""
        from engine.sim.amazon.listing_state import known_skus, listing

        si = self._index(seller)
        out = {}
        for sku in known_skus(self._w):
            state = listing(self._w, si, sku)
            if state is not None:
                out[sku] = state
        return out

    def _index(self, seller: str | None) -> int:
        name = self._seller(seller)
        return next(i for i, c in enumerate(self._w.configs) if c.name == name)
