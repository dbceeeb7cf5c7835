"""Unplanned receipts and issues: init (opaque ids) -> validate item -> validate quantity ->
commit of the whole tree, and every shortcut refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.sim_qad.conftest import ISSUES, RECEIVES, STEP, Caller, error_of, ok

ITEM = "10-1000"


async def test_receipt_through_the_four_steps(api: Caller) -> None:
    tree = await api.tree("10-FBA")
    detail = tree["unplannedProcessorDetailV2s"][0]
    assert tree["siteCode"] == "10-FBA" and tree["domainCode"] == "10USA"
    assert tree["unplannedProcessorHeaderID"] and detail["unplannedProcessorDetailID"]
    assert detail["itemCode"] == "" and detail["transactionQuantity"] == 0

    done = await api.validated_tree(ITEM, 7, "ADJ-1", site="10-FBA")
    defaults = done["unplannedProcessorDetailV2s"][0]
    assert (defaults["location"], defaults["inventoryStatus"], defaults["glAccount"]) == (
        "010",
        "GOOD",
        "6130",
    )
    status, doc = await api.commit_tree(done)
    assert status == 200 and ok(doc), doc
    echoed = doc["data"]["unplannedProcessorHeaderV2s"][0]
    assert "transactionNumbers" not in echoed and "transactionNumbers" not in str(doc)
    (row,) = api.sim.tr_hist()
    assert (row["tr_type"], row["tr_nbr"], row["tr_rmks"], row["tr_qty_loc"]) == (
        "RCT-UNP",
        "ADJ-1",
        "adjustment ADJ-1",
        Decimal(7),
    )
    assert api.sim.on_hand(ITEM, "10-FBA") == Decimal(107)
    status, doc = await api.browse("urn:browse:mfg:ic763", "tr_hist.tr_nbr,eq,ADJ-1,literal")
    (hit,) = doc["data"]
    assert hit["tr_hist.tr_trnbr"] == row["tr_trnbr"] and hit["tr_hist.tr_type"] == "RCT-UNP"


async def test_issue_lowers_stock_and_cannot_exceed_it(api: Caller) -> None:
    done = await api.validated_tree(ITEM, 5, "ADJ-2", path=ISSUES)
    _, doc = await api.commit_tree(done, ISSUES)
    assert ok(doc), doc
    assert api.sim.on_hand(ITEM, "10-100") == Decimal(95)
    assert api.sim.tr_hist()[0]["tr_qty_loc"] == Decimal(-5)
    tree = await api.tree(path=ISSUES)
    detail = {**tree["unplannedProcessorDetailV2s"][0], "itemCode": ITEM, "transactionQuantity": 96}
    _status, doc = await api.validate(
        {**tree, "unplannedProcessorDetailV2s": [detail]}, "transactionQuantity", ISSUES
    )
    assert error_of(doc)["fieldName"] == "transactionQuantity"


async def test_single_step_receipt_is_rejected(api: Caller) -> None:
    """The old invented one-POST receipt: no init ids, made-up fields, nothing validated."""
    tree: dict[str, Any] = {
        "domainCode": "10USA",
        "siteCode": "10-100",
        "unplannedProcessorDetailV2s": [
            {"itemCode": ITEM, "transactionQuantity": 1, "reference": "ADJ-3"}
        ],
    }
    status, doc = await api.commit_tree(tree)
    assert status == 200 and error_of(doc)["fieldName"] == "unplannedProcessorHeaderID"
    status, doc = await api.commit_tree({**tree, "effectiveDate": "2026-01-01"})
    assert error_of(doc) == {
        "fieldName": "effectiveDate",
        "message": "Unknown field effectiveDate",
        "code": None,
    }
    assert api.sim.tr_hist() == []


async def test_commit_without_validation_is_rejected(api: Caller) -> None:
    tree = await api.tree()
    detail = {**tree["unplannedProcessorDetailV2s"][0], "itemCode": ITEM, "transactionQuantity": 2}
    _, doc = await api.commit_tree({**tree, "unplannedProcessorDetailV2s": [detail]})
    assert error_of(doc)["fieldName"] == "itemCode"
    # Validated, then the quantity changed behind QAD's back.
    done = await api.validated_tree(ITEM, 2, "ADJ-4")
    detail = {**done["unplannedProcessorDetailV2s"][0], "transactionQuantity": 20}
    _status, doc = await api.commit_tree({**done, "unplannedProcessorDetailV2s": [detail]})
    assert error_of(doc)["fieldName"] == "transactionQuantity"
    assert api.sim.tr_hist() == []


async def test_reused_or_foreign_header_id_is_rejected(api: Caller) -> None:
    done = await api.validated_tree(ITEM, 1, "ADJ-5")
    assert ok((await api.commit_tree(done))[1])
    _, doc = await api.commit_tree(done)
    assert error_of(doc)["fieldName"] == "unplannedProcessorHeaderID"
    # A receipt's tree is unknown to the issue path.
    other = await api.validated_tree(ITEM, 1, "ADJ-6")
    _status, doc = await api.commit_tree(other, ISSUES)
    assert error_of(doc)["fieldName"] == "unplannedProcessorHeaderID"
    assert len(api.sim.tr_hist()) == 1


async def test_validate_rules_and_methods(api: Caller) -> None:
    tree = await api.tree()
    detail = {**tree["unplannedProcessorDetailV2s"][0], "itemCode": "NOPE"}
    status, doc = await api.validate({**tree, "unplannedProcessorDetailV2s": [detail]}, "itemCode")
    assert error_of(doc)["fieldName"] == "itemCode"
    detail = {**detail, "itemCode": ITEM, "transactionNumbers": [1]}
    status, doc = await api.validate({**tree, "unplannedProcessorDetailV2s": [detail]}, "itemCode")
    assert error_of(doc)["fieldName"] == "transactionNumbers"
    status, doc = await api.get(f"{RECEIVES}/{STEP}")
    assert status == 405 and doc["errors"][0]["code"] == "405"
    status, doc = await api.get(RECEIVES)
    assert status == 400 and doc["errors"][0]["fieldName"] == "siteCode"
