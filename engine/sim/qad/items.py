"""``GET api/erp/items?itemCode=X``: the keyed item read [C] (public clients; record fields
[C]). Write-only steps of other flows live beside their flow; items are read-only here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.sim.qad.wire import Call, Reply

__all__ = ["get_item", "item_json"]


def item_json(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "uri": f"urn:be:com.qad.base.item.IItem:{r['pt_domain']}.{r['pt_part']}",
        "itemCode": r["pt_part"],
        "description": r["pt_desc1"],
        "description2": r["pt_desc2"],
        "unitOfMeasure": r["pt_um"],
        "productLine": r["pt_prod_line"],
        "itemType": r["pt_part_type"],
        "itemStatus": r["pt_status"],
        "listPrice": r["pt_price"],
        "domainCode": r["pt_domain"],
    }


def get_item(call: Call) -> Reply:
    (code,) = call.need("itemCode")
    row = call.store.one("SELECT * FROM pt_mstr WHERE pt_part=?", (code,))
    return Reply({"data": {"items": [item_json(row)] if row else []}})
