"""FBA inventory summaries (paged back to back) and MFN quantities from the listings report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.adapters.amazon.client import AmazonClient
from engine.errors import Rejected

__all__ = ["FBA_BASES", "fba_quantity", "fba_snapshot", "mfn_quantities"]

# Which units of getInventorySummaries' ``inventoryDetails`` count as the seller's FBA stock
# ([D] fbaInventory.json InventoryDetails / ReservedQuantity):
#   fulfillable           fulfillableQuantity (pickable now; the default)
#   fulfillable_reserved  + reservedQuantity.totalReservedQuantity (being picked for orders,
#                         transshipped, sidelined: still Amazon's physical stock)
#   with_inbound          + inboundShippedQuantity + inboundReceivingQuantity (on its way with a
#                         tracking number / being received). inboundWorkingQuantity is left out
#                         [I]: "working" units may still sit in the seller's own warehouse, which
#                         QAD already counts at the warehouse site.
FBA_BASES = ("fulfillable", "fulfillable_reserved", "with_inbound")


def _int(v: Any) -> int:
    """A count from an untrusted body: an int (or digit string); anything else counts 0."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    return int(v) if isinstance(v, str) and v.strip().isdigit() else 0


def fba_quantity(details: Any, basis: str = "fulfillable") -> int:
    """The quantity of one summary's ``inventoryDetails`` on ``basis`` (see FBA_BASES)."""
    det = details if isinstance(details, dict) else {}
    qty = _int(det.get("fulfillableQuantity"))
    if basis in ("fulfillable_reserved", "with_inbound"):
        reserved = det.get("reservedQuantity")
        qty += _int(reserved.get("totalReservedQuantity")) if isinstance(reserved, dict) else 0
    if basis == "with_inbound":
        qty += _int(det.get("inboundShippedQuantity")) + _int(det.get("inboundReceivingQuantity"))
    return qty


async def fba_snapshot(
    client: AmazonClient, marketplace_id: str, *, basis: str = "fulfillable", restarts: int = 3
) -> dict[str, int]:
    """sellerSku -> quantity on ``basis`` (FBA_BASES) for the whole marketplace.

    The nextToken lives 30 s, so pages are fetched back to back; if a token has expired anyway
    (400 on a page after the first) the snapshot restarts from page one, up to ``restarts`` times.
    Only a whole listing is returned: any failure raises, never a partial snapshot.
    """
    if basis not in FBA_BASES:
        raise ValueError(f"unknown FBA quantity basis {basis!r}")
    params = [
        ("granularityType", "Marketplace"),
        ("granularityId", marketplace_id),
        ("marketplaceIds", marketplace_id),
        ("details", "true"),
    ]
    for attempt in range(restarts + 1):
        items: dict[str, int] = {}
        pages = 0
        try:
            async for body in client.paginate(
                "getInventorySummaries", "/fba/inventory/v1/summaries", params, "fba"
            ):
                pages += 1
                for s in (body.get("payload") or {}).get("inventorySummaries") or []:
                    sku = s.get("sellerSku")
                    if sku:
                        items[str(sku)] = fba_quantity(s.get("inventoryDetails"), basis)
        except Rejected:
            if pages == 0 or attempt == restarts:
                raise
            continue  # expired nextToken mid-snapshot: start the snapshot again
        return items
    raise AssertionError("unreachable")


def mfn_quantities(lines: Iterable[str]) -> dict[str, int]:
    """GET_MERCHANT_LISTINGS_ALL_DATA: fulfillment-channel DEFAULT rows -> seller-sku: quantity."""
    it = iter(lines)
    header = next(it, "").rstrip("\r\n").lstrip("\ufeff").split("\t")
    idx = {h.strip().lower(): i for i, h in enumerate(header)}
    i_sku, i_qty = idx.get("seller-sku"), idx.get("quantity")
    i_ch = idx.get("fulfillment-channel")
    if i_sku is None or i_qty is None:
        from engine.errors import ParseError

        raise ParseError("merchant listings report lacks seller-sku/quantity columns")
    out: dict[str, int] = {}
    for line in it:
        cells = line.rstrip("\r\n").split("\t")
        if len(cells) <= max(i_sku, i_qty):
            continue
        channel = cells[i_ch].strip().upper() if i_ch is not None and i_ch < len(cells) else ""
        if channel and channel != "DEFAULT":
            continue
        q = cells[i_qty].strip()
        out[cells[i_sku].strip()] = int(q) if q.lstrip("-").isdigit() else 0
    return out
