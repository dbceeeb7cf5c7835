"""Amazon inventory snapshots -> QAD stock alignment commands.

FBA snapshots align the on-hand of the marketplace's configured FBA site; merchant-fulfilled
snapshots are compared with its warehouse site and adjusted or only reported (``mfn_mode``).
QAD's on-hand is read at dispatch time (``qad.inventory.align``), so the projector stays pure.
A SKU whose Amazon number changed is aligned at once; every SKU of a snapshot is re-aligned at
least every ``realign_every_s`` (by the events' recorded time), because stock issued or received
in QAD moves QAD's number while Amazon's stays put.

Safety rules (an unknown is never read as "no stock"):
- Only complete snapshots count. The pollers append nothing for a CANCELLED/FATAL report or a
  broken FBA listing; an event marked ``"complete": false`` is ignored here all the same, for
  adjustments and for the "missing" counts.
- Something absent is only aligned to 0 once ``absent_after`` consecutive complete snapshots
  agree: a SKU that vanished from the snapshots, and (FBA) a mapped QAD item none of whose SKUs
  Amazon holds in FBA at all, so QAD's FBA site ends up equal to what Amazon holds. An item
  still held under another of its SKUs is never zeroed.
- ``fba_sources``: the one marketplace whose FBA snapshot aligns each FBA site. In a pooled
  region the summaries of every marketplace count the same units [C models#452], so a site
  shared by several marketplaces takes one marketplace's figure, never the sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from engine.commands.vocabulary import Park, make_command
from engine.config import MappingConfig
from engine.log.records import StoredEvent
from engine.projectors.base import Projection, State
from engine.projectors.mapping import Mapper

__all__ = ["InventoryProjector", "fba_sources"]

_KINDS = {"amazon.inventory.fba": "FBA", "amazon.inventory.mfn": "MFN"}


def fba_sources(marketplaces: Iterable[str], mapping: MappingConfig) -> dict[str, str]:
    """FBA site -> the first of ``marketplaces`` (polled, in config order) mapped to it."""
    out: dict[str, str] = {}
    for mp in marketplaces:
        m = mapping.marketplaces.get(mp)
        if m is not None and m.fba_site:
            out.setdefault(m.fba_site, mp)
    return out


class InventoryProjector:
    """Pure projector over the FBA and MFN inventory snapshot streams."""

    name = "inventory"
    streams = tuple(_KINDS)

    def __init__(
        self,
        mapper: Mapper,
        mfn_mode: str = "report",
        fba_mode: str = "adjust",
        realign_every_s: float = 3600.0,
        *,
        absent_after: int = 2,
        fba_sources: Mapping[str, str] | None = None,
    ) -> None:
        self.mapper = mapper
        self.mfn_mode = mfn_mode
        self.fba_mode = fba_mode
        self.realign_every_s = realign_every_s
        self.absent_after = max(1, absent_after)
        self.fba_sources = dict(fba_sources) if fba_sources is not None else None
        self._mapped_items = sorted(set(mapper.cfg.sku.values()))

    def _realign_due(self, prior: State, at: datetime) -> bool:
        last = prior.get("realigned_at")
        if not last:
            return True
        return (at - datetime.fromisoformat(str(last))).total_seconds() >= self.realign_every_s

    def state_keys(self, event: StoredEvent) -> list[str]:
        return [f"{_KINDS[event.stream]}:{event.key}"]

    def project(self, event: StoredEvent, state: dict[str, State]) -> Projection:
        out = Projection()
        kind = _KINDS[event.stream]
        snap: dict[str, Any] = event.payload
        if snap.get("complete") is False:
            return out  # an incomplete snapshot is "unknown": no adjustment, no missing count
        mp_id = str(snap.get("marketplace_id") or event.key)
        skey = f"{kind}:{mp_id}"
        mp = self.mapper.marketplace(mp_id)
        site = (mp.fba_site if kind == "FBA" else mp.warehouse_site) if mp else ""
        if not site:
            return out  # this marketplace's stock is not aligned to a QAD site
        sources = self.fba_sources if kind == "FBA" else None
        if sources is not None and sources.get(site, mp_id) != mp_id:
            return out  # a shared FBA site is aligned from its source marketplace only
        mode = self.fba_mode if kind == "FBA" else self.mfn_mode
        prior = state.get(skey) or {"qty": {}, "missing": {}}
        realign = self._realign_due(prior, event.recorded_at)
        last_qty: dict[str, int] = dict(prior.get("qty", {}))
        missing: dict[str, int] = dict(prior.get("missing", {}))
        items: dict[str, int] = {str(k): int(v) for k, v in (snap.get("items") or {}).items()}
        held = {i for s in items if (i := self.mapper.item_for(s)) is not None}
        targets: dict[str, int] = {}
        for sku, qty in sorted(items.items()):
            missing.pop(sku, None)
            if realign or last_qty.get(sku) != qty:
                targets[sku] = qty
            last_qty[sku] = qty
        for sku in sorted(set(last_qty) - set(items)):
            missing[sku] = missing.get(sku, 0) + 1
            if missing[sku] >= self.absent_after:  # confirmed by later snapshots: really gone
                if self.mapper.item_for(sku) not in held:  # not held under another SKU
                    targets[sku] = 0
                del last_qty[sku]
                del missing[sku]
        absent = dict(prior.get("absent", {}))
        if kind == "FBA":
            targets.update(self._absent_items(absent, held, targets, realign))
        seq = snap.get("snapshot", event.position)
        for sku, qty in targets.items():
            item = self.mapper.item_for(sku)
            if item is None:
                out.parks.append(
                    Park(sku, event.position, f"unmapped SKU {sku} in {kind} inventory of {mp_id}")
                )
                continue
            ref = f"AMZ-{kind}-{mp_id}-{seq}-{item}"
            body = {
                "reference": ref,
                "item": item,
                "site": site,
                "target": str(qty),
                "mode": mode,
                "effective_date": event.recorded_at.date().isoformat(),
                "sku": sku,
                "marketplace_id": mp_id,
            }
            out.commands.append(
                make_command("qad.inventory.align", "qad", sku, ref, body, (event.position,))
            )
        realigned_at = event.recorded_at.isoformat() if realign else prior.get("realigned_at")
        out.state[skey] = {
            "qty": last_qty,
            "missing": missing,
            "absent": absent,
            "realigned_at": realigned_at,
        }
        return out

    def _absent_items(
        self, absent: dict[str, int], held: set[str], targets: dict[str, int], realign: bool
    ) -> dict[str, int]:
        """SKU -> 0 for mapped items Amazon holds under none of their SKUs, once confirmed by
        ``absent_after`` snapshots, then again at every realignment (``absent`` is updated)."""
        out: dict[str, int] = {}
        zeroed = {self.mapper.item_for(s) for s, q in targets.items() if q == 0}
        for item in self._mapped_items:
            if item in held:
                absent.pop(item, None)
                continue
            prev = int(absent.get(item, 0))
            absent[item] = n = min(prev + 1, self.absent_after)
            if n < self.absent_after or item in zeroed:
                continue
            skus = self.mapper.skus_for(item)
            if skus and (prev < n or realign):  # just confirmed, or due for realignment
                out[skus[0]] = 0
        return out
