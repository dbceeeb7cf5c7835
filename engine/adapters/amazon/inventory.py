"""FBA inventory summaries (paged back to back) and MFN quantities from the listings report."""

from __future__ import annotations

from collections.abc import Iterable

from engine.adapters.amazon.client import AmazonClient
from engine.errors import Rejected

__all__ = ["fba_snapshot", "mfn_quantities"]


async def fba_snapshot(
    client: AmazonClient, marketplace_id: str, *, restarts: int = 3
) -> dict[str, int]:
    """sellerSku -> fulfillableQuantity for the whole marketplace.

    The nextToken lives 30 s, so pages are fetched back to back; if a token has expired anyway
    (400 on a page after the first) the snapshot restarts from page one, up to ``restarts`` times.
    """
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
                        det = s.get("inventoryDetails") or {}
                        items[str(sku)] = int(det.get("fulfillableQuantity") or 0)
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
