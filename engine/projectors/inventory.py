"""Amazon inventory snapshots -> QAD stock alignment commands.

FBA snapshots align the on-hand of the marketplace's configured FBA site; merchant-fulfilled
snapshots are compared with its warehouse site and adjusted or only reported (``mfn_mode``).
QAD's on-hand is read at dispatch time (``qad.inventory.align``), so the projector stays pure.
A SKU whose Amazon number changed is aligned at once; every SKU of a snapshot is re-aligned at
least every ``realign_every_s`` (by the events' recorded time), because stock issued or received
in QAD moves QAD's number while Amazon's stays put. A SKU that vanishes from one snapshot is only
zeroed when the next snapshot confirms it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.commands.vocabulary import Park, make_command
from engine.log.records import StoredEvent
from engine.projectors.base import Projection, State
from engine.projectors.mapping import Mapper

__all__ = ["InventoryProjector"]

_KINDS = {"amazon.inventory.fba": "FBA", "amazon.inventory.mfn": "MFN"}


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
    ) -> None:
        self.mapper = mapper
        self.mfn_mode = mfn_mode
        self.fba_mode = fba_mode
        self.realign_every_s = realign_every_s

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
        mp_id = str(snap.get("marketplace_id") or event.key)
        skey = f"{kind}:{mp_id}"
        mp = self.mapper.marketplace(mp_id)
        site = (mp.fba_site if kind == "FBA" else mp.warehouse_site) if mp else ""
        if not site:
            return out  # this marketplace's stock is not aligned to a QAD site
        mode = self.fba_mode if kind == "FBA" else self.mfn_mode
        prior = state.get(skey) or {"qty": {}, "missing": {}}
        realign = self._realign_due(prior, event.recorded_at)
        last_qty: dict[str, int] = dict(prior.get("qty", {}))
        missing: dict[str, int] = dict(prior.get("missing", {}))
        items: dict[str, int] = {str(k): int(v) for k, v in (snap.get("items") or {}).items()}
        targets: dict[str, int] = {}
        for sku, qty in sorted(items.items()):
            missing.pop(sku, None)
            if realign or last_qty.get(sku) != qty:
                targets[sku] = qty
            last_qty[sku] = qty
        for sku in sorted(set(last_qty) - set(items)):
            missing[sku] = missing.get(sku, 0) + 1
            if missing[sku] >= 2:  # confirmed by a second snapshot: really gone
                targets[sku] = 0
                del last_qty[sku]
                del missing[sku]
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
        out.state[skey] = {"qty": last_qty, "missing": missing, "realigned_at": realigned_at}
        return out
