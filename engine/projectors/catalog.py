"""QAD item master -> Amazon listings patches (the one outbound flow).

The first version of an item seen is the baseline; a later change of description, list price
or status becomes one ``amazon.listing.patch`` per mapped SKU and listing marketplace, followed
by its ``amazon.listing.verify`` (the read-back that confirms Amazon applied it).
"""

from __future__ import annotations

from typing import Any

from engine.commands.vocabulary import make_command
from engine.log.records import StoredEvent
from engine.projectors.base import Projection, State
from engine.projectors.mapping import Mapper

__all__ = ["CatalogProjector"]

_FIELDS = ("description", "list_price", "status")
# The command kinds engine/dispatch/listing_handlers.py performs (projectors sit below dispatch).
PATCH, VERIFY = "amazon.listing.patch", "amazon.listing.verify"


class CatalogProjector:
    """Pure projector over ``qad.items``."""

    name = "catalog"
    streams = ("qad.items",)

    def __init__(self, mapper: Mapper, marketplaces: tuple[str, ...], regions: dict[str, str]):
        self.mapper = mapper
        self.marketplaces = marketplaces
        self.regions = regions  # marketplace id -> region

    def state_keys(self, event: StoredEvent) -> list[str]:
        return [event.key]

    def project(self, event: StoredEvent, state: dict[str, State]) -> Projection:
        out = Projection()
        item: dict[str, Any] = event.payload
        current = {f: item.get(f) for f in _FIELDS}
        prior = state.get(event.key)
        out.state[event.key] = current
        if prior is None:
            return out
        changes = {f: current[f] for f in _FIELDS if current[f] != prior.get(f)}
        if not changes:
            return out
        for sku in self.mapper.skus_for(event.key):
            for mp_id in self.marketplaces:
                mp = self.mapper.marketplace(mp_id)
                body = {
                    "sku": sku,
                    "marketplace_id": mp_id,
                    "region": self.regions.get(mp_id, ""),
                    "item_code": event.key,
                    "changes": {**changes, "currency": mp.currency if mp else ""},
                }
                ref = f"{mp_id}:{sku}"
                pos = (event.position,)
                patch = make_command(PATCH, "amazon.listings", sku, ref, body, pos)
                # Its read-back, queued right behind it under the same record key (so due once
                # the patch is done) and stored with it: a crash between them loses neither.
                verify = {**body, "patch": patch.command_id}
                out.commands += [
                    patch,
                    make_command(VERIFY, "amazon.listings", sku, ref, verify, pos),
                ]
        return out
