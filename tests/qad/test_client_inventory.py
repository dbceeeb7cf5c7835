"""Stock over real HTTP: on-hand through the on-hand browse, unplanned receipts and issues through
init -> validate item -> validate quantity -> commit, documents from the history browse."""

from __future__ import annotations

import pytest

from engine.adapters.qad import InventoryAdjustment, QadBusinessError
from engine.errors import Conflict, UnknownOutcome
from tests.qad.conftest import TODAY, D, posts

RECEIVES = "/api/erp/unplannedReceives"
ISSUES = "/api/erp/unplannedIssues"
VALIDATE = "validateAndAssignDefaultsLine"


def adj(ref: str, qty: str, item: str = "10-1000", site: str = "10-FBA") -> InventoryAdjustment:
    return InventoryAdjustment(ref, item, site, D(qty), TODAY, remarks=f"remark {ref}")


async def test_unplanned_receipt_and_issue(client, sim):
    start = sim.on_hand("10-1000", "10-FBA")
    r = await client.post_inventory_adjustment(adj("ADJ-1", "5"))
    assert r.created and r.document
    again = await client.post_inventory_adjustment(adj("ADJ-1", "5"))
    assert (again.created, again.document) == (False, r.document)
    i = await client.post_inventory_adjustment(adj("ADJ-2", "-7.5"))
    assert i.created and i.document != r.document
    assert sim.on_hand("10-1000", "10-FBA") == start + 5 - D("7.5")

    hist = [t for t in sim.tr_hist() if t["tr_nbr"] in ("ADJ-1", "ADJ-2")]
    assert [(t["tr_type"], D(str(t["tr_qty_loc"])), t["tr_nbr"]) for t in hist] == [
        ("RCT-UNP", D(5), "ADJ-1"),
        ("ISS-UNP", D("-7.5"), "ADJ-2"),
    ]
    assert [str(t["tr_trnbr"]) for t in hist] == [r.document, i.document]
    assert hist[0]["tr_rmks"] == "remark ADJ-1"
    # Each went through both validation steps before its one commit.
    assert posts(sim, f"{RECEIVES}/{VALIDATE}") == 2 and posts(sim, RECEIVES) == 1
    assert posts(sim, f"{ISSUES}/{VALIDATE}") == 2 and posts(sim, ISSUES) == 1

    found = await client.find_inventory_adjustment_by_reference("ADJ-2")
    assert found is not None and found["document"] == i.document
    assert found["quantity"] == D("-7.5") and found["type"] == "ISS-UNP"
    assert await client.find_inventory_adjustment_by_reference("ADJ-none") is None


async def test_on_hand_is_the_sum_over_locations_from_the_browse(client, sim):
    bal = await client.inventory_balance("10-1000", "10-FBA")
    assert bal is not None and bal.on_hand == sim.on_hand("10-1000", "10-FBA")
    # A receipt into a second location: on-hand is summed over both.
    second = InventoryAdjustment("ADJ-L2", "10-1000", "10-FBA", D("3"), TODAY, location="020")
    await client.post_inventory_adjustment(second)
    after = await client.inventory_balance("10-1000", "10-FBA")
    assert after is not None and after.on_hand == bal.on_hand + 3
    assert after.locations == bal.locations + 1
    assert after.on_hand == sim.on_hand("10-1000", "10-FBA")
    assert await client.inventory_balance("10-1000", "99-NOWHERE") is None


async def test_issue_beyond_on_hand_and_unknown_item_are_rejected(client, sim):
    with pytest.raises(QadBusinessError) as info:
        await client.post_inventory_adjustment(adj("ADJ-3", "-100000"))
    assert info.value.errors[0]["fieldName"] == "transactionQuantity"
    with pytest.raises(QadBusinessError) as info:
        await client.post_inventory_adjustment(adj("ADJ-4", "1", item="XX-NOPE"))
    assert info.value.errors[0]["fieldName"] == "itemCode"
    assert [t for t in sim.tr_hist() if t["tr_nbr"] in ("ADJ-3", "ADJ-4")] == []


async def test_same_reference_different_quantity_is_conflict(client, sim):
    await client.post_inventory_adjustment(adj("ADJ-5", "5"))
    with pytest.raises(Conflict, match="quantity"):
        await client.post_inventory_adjustment(adj("ADJ-5", "6"))
    assert len([t for t in sim.tr_hist() if t["tr_nbr"] == "ADJ-5"]) == 1


async def test_unknown_outcome_of_the_commit_is_settled_by_the_history_look_up(client, sim):
    # The validation steps pass untouched; the commit is applied, then its answer is lost.
    sim.faults.add("latency", path=VALIDATE, times=0)
    sim.faults.add("commit_then_drop", path=RECEIVES, method="POST")
    r = await client.post_inventory_adjustment(adj("ADJ-6", "2"))
    assert r.created and r.details["recovered"] is True
    [row] = [t for t in sim.tr_hist() if t["tr_nbr"] == "ADJ-6"]
    assert r.document == str(row["tr_trnbr"])


async def test_unknown_outcome_before_commit_then_retry_posts_once(client, sim):
    await client.post_inventory_adjustment(adj("ADJ-7", "1"))  # proves the look-up
    sim.faults.add("latency", path=VALIDATE, times=0)
    sim.faults.add("status", path=ISSUES, method="POST", status=500)
    with pytest.raises(UnknownOutcome):
        await client.post_inventory_adjustment(adj("ADJ-8", "-1"))
    assert [t for t in sim.tr_hist() if t["tr_nbr"] == "ADJ-8"] == []
    assert (await client.post_inventory_adjustment(adj("ADJ-8", "-1"))).created
    assert (await client.post_inventory_adjustment(adj("ADJ-8", "-1"))).created is False
    assert len([t for t in sim.tr_hist() if t["tr_nbr"] == "ADJ-8"]) == 1
