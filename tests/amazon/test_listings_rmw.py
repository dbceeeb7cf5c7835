"""Listing writes are read-modify-write against the strict Listings simulator, over HTTP.

Every test reads the listing before, patches through ``ListingsAdapter`` (the engine's port),
lets the simulated Amazon apply the submission (its clock advanced past the apply delay) and
compares the read-back attribute by attribute: only the sub-fields QAD owns may differ.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.adapters.amazon.listings import ListingsAdapter, get_listing, patch_listing
from engine.config.listings import ListingsConfig
from engine.dispatch.retry import RetryPolicy
from engine.errors import DataError, Rejected
from engine.sim.amazon import AmazonSimulator
from engine.sim.amazon.listing_rules import ListingRules
from engine.sim.amazon.listing_state import ODD_SKU
from engine.sim.business import catalog
from tests.amazon.conftest import make_client

US = "ATVPDKIKX0DER"
MFN_SKU = catalog()[3].sku  # merchant-fulfilled
FBA_SKU = catalog()[2].sku  # Amazon-fulfilled (AMAZON_NA)
ALL_FIELDS = ("price", "title", "description", "quantity")


def _applied(sim: AmazonSimulator) -> None:
    sim.advance(timedelta(minutes=10))  # past the simulated apply delay (5 min default)


def _price_of(entry: dict[str, Any]) -> Decimal:
    return Decimal(str(entry["our_price"][0]["schedule"][0]["value_with_tax"]))


def _by(entries: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {e.get(key): e for e in entries}


def _assert_only_owned_changed(
    before: dict[str, Any],
    after: dict[str, Any],
    price: Decimal,
    title: str | None,
    checked_apart: frozenset[str] = frozenset(),
) -> None:
    """Attribute by attribute: everything equal except ALL's our_price value and the US
    item_name value (``checked_apart``: attributes the caller compares itself)."""
    b, a = before["attributes"], after["attributes"]
    assert set(a) == set(b), (sorted(b), sorted(a))
    for name in sorted(set(b) - checked_apart - {"purchasable_offer", "item_name"}):
        assert a[name] == b[name], name
    offers_b, offers_a = (
        _by(b["purchasable_offer"], "audience"),
        _by(a["purchasable_offer"], "audience"),
    )
    assert set(offers_a) == set(offers_b) == {"ALL", "B2B"}
    assert offers_a["B2B"] == offers_b["B2B"]  # the business offer is untouched
    all_b, all_a = offers_b["ALL"], offers_a["ALL"]
    assert _price_of(all_a) == price != _price_of(all_b)
    assert {k: v for k, v in all_a.items() if k != "our_price"} == {
        k: v for k, v in all_b.items() if k != "our_price"
    }  # discounted_price (sale), min/max prices, currency, audience, marketplace_id kept
    if title is None:
        assert a["item_name"] == b["item_name"]
    else:
        assert [e["value"] for e in a["item_name"]] == [title]
        assert [{**e, "value": title} for e in b["item_name"]] == a["item_name"]


@pytest.mark.parametrize("write_op", ["merge", "replace"])
@pytest.mark.parametrize("scope", ["attribute", "selector"])
async def test_price_title_and_quantity_change_only_what_qad_owns(session, write_op, scope):
    async with AmazonSimulator(
        seed=1, time_scale=60.0, history_days=1, orders_per_day=1,
        listing_rules=ListingRules(replace_scope=scope),
    ) as sim:  # fmt: skip
        client = make_client(sim, session)
        before = await get_listing(client, MFN_SKU, [US])
        old = _price_of(_by(before["attributes"]["purchasable_offer"], "audience")["ALL"])
        price = (old + Decimal("3.10")).quantize(Decimal("0.01"))
        cfg = ListingsConfig(fields=ALL_FIELDS, write_op=write_op)
        adapter = ListingsAdapter({"NA": client}, cfg)
        changes = {"list_price": str(price), "description": "Bracket, steel", "currency": "USD"}
        changes["status"] = "IN"  # made inactive in QAD: merchant quantity 0
        report = await adapter.patch_listing("NA", US, MFN_SKU, changes)
        assert report.submission_id and report.warnings == []
        # Sent with the listing's own product type (never the old hard-coded "PRODUCT").
        product_type = before["summaries"][0]["productType"]
        assert product_type != "PRODUCT" and report.request.startswith(f"{product_type}: ")
        assert not (await adapter.check_listing("NA", US, MFN_SKU, changes)).applied  # not yet
        _applied(sim)
        assert (await adapter.check_listing("NA", US, MFN_SKU, changes)).applied
        after = await get_listing(client, MFN_SKU, [US])

        apart = frozenset({"product_description", "fulfillment_availability"})
        _assert_only_owned_changed(before, after, price, "Bracket, steel", apart)
        # product_description also follows QAD's description, in the listing's language.
        [desc] = after["attributes"]["product_description"]
        assert desc == {**before["attributes"]["product_description"][0], "value": "Bracket, steel"}
        # Merchant channel: quantity 0, lead time kept, no other channel appeared.
        [fa_b] = before["attributes"]["fulfillment_availability"]
        assert after["attributes"]["fulfillment_availability"] == [{**fa_b, "quantity": 0}]
        assert fa_b["lead_time_to_ship_max_days"] == 2
        assert [f["fulfillmentChannelCode"] for f in after["fulfillmentAvailability"]] == [
            "DEFAULT"
        ]

        # Planned again against the applied listing: nothing left to send.
        again = await adapter.patch_listing("NA", US, MFN_SKU, changes)
        assert again.submission_id == "" and again.changed == []


async def test_a_blind_replace_would_lose_the_offers_the_client_keeps(session):
    """The rule the client guards against is real in the simulator: the old minimal replace
    loses the B2B offer and the sale price (so the test above can fail)."""
    async with AmazonSimulator(seed=1, history_days=1, orders_per_day=1) as sim:
        client = make_client(sim, session)
        before = await get_listing(client, MFN_SKU, [US])
        product_type = before["summaries"][0]["productType"]
        offer = {"marketplace_id": US, "currency": "USD"}
        offer["our_price"] = [{"schedule": [{"value_with_tax": 9.99}]}]
        patch = {"op": "replace", "path": "/attributes/purchasable_offer", "value": [offer]}
        sub = await patch_listing(client, MFN_SKU, [US], product_type, [patch])
        assert sub.status == "ACCEPTED"
        _applied(sim)
        after = await get_listing(client, MFN_SKU, [US])
        [only] = after["attributes"]["purchasable_offer"]
        assert only["audience"] == "ALL" and "discounted_price" not in only
        assert len(before["attributes"]["purchasable_offer"]) == 2


@pytest.mark.parametrize("sku", [ODD_SKU])
async def test_sku_with_slash_hash_space_and_umlaut_round_trips(session, sku):
    assert {"/", "#", " "} <= set(sku) and not sku.isascii()
    async with AmazonSimulator(seed=1, history_days=1, orders_per_day=1) as sim:
        client = make_client(sim, session)
        before = await get_listing(client, sku, [US])
        assert before["sku"] == sku  # one path segment, decoded back to the same SKU
        adapter = ListingsAdapter({"NA": client}, ListingsConfig(fields=("price", "title")))
        changes = {"list_price": "24.60", "description": "Winkel Größe A / 90°", "currency": "USD"}
        report = await adapter.patch_listing("NA", US, sku, changes)
        assert report.submission_id
        _applied(sim)
        assert (await adapter.check_listing("NA", US, sku, changes)).applied
        after = await get_listing(client, sku, [US])
        _assert_only_owned_changed(before, after, Decimal("24.60"), "Winkel Größe A / 90°")
        # The simulator's own state under that exact SKU changed (not a mis-decoded twin).
        names = {
            e["marketplace_id"]: e["value"]
            for e in sim.truth.listings()[sku]["attributes"]["item_name"]
        }
        assert names[US] == "Winkel Größe A / 90°"
        assert len(names) > 1 and "Winkel Größe A / 90°" not in {
            v for m, v in names.items() if m != US
        }


async def test_fba_sku_made_inactive_gets_no_fulfillment_patch(session):
    async with AmazonSimulator(seed=1, history_days=1, orders_per_day=1) as sim:
        client = make_client(sim, session)
        before = await get_listing(client, FBA_SKU, [US])
        assert [f["fulfillmentChannelCode"] for f in before["fulfillmentAvailability"]] == [
            "AMAZON_NA"
        ]
        adapter = ListingsAdapter({"NA": client}, ListingsConfig(fields=ALL_FIELDS))
        report = await adapter.patch_listing("NA", US, FBA_SKU, {"status": "IN"})
        assert report.submission_id == ""  # nothing sent at all
        assert report.notes == [
            "fulfillment_availability untouched: AMAZON_NA (Amazon-fulfilled) SKU"
        ]
        _applied(sim)
        after = await get_listing(client, FBA_SKU, [US])
        assert after["attributes"] == before["attributes"]
        assert after["fulfillmentAvailability"] == before["fulfillmentAvailability"]

        # What the rule prevents: a DEFAULT entry for an FBA SKU adds a merchant channel.
        zero = {"fulfillment_channel_code": "DEFAULT", "quantity": 0}
        patch = {"op": "replace", "path": "/attributes/fulfillment_availability", "value": [zero]}
        product_type = before["summaries"][0]["productType"]
        await patch_listing(client, FBA_SKU, [US], product_type, [patch])
        _applied(sim)
        damaged = await get_listing(client, FBA_SKU, [US])
        assert {f["fulfillmentChannelCode"] for f in damaged["fulfillmentAvailability"]} == {
            "AMAZON_NA",
            "DEFAULT",
        }


async def test_error_issue_is_rejected_with_amazons_text_and_parks(session):
    async with AmazonSimulator(seed=1, history_days=1, orders_per_day=1) as sim:
        client = make_client(sim, session)
        await get_listing(client, MFN_SKU, [US])  # seeds the listing
        # A listing whose offer carries a currency the marketplace refuses (edited elsewhere).
        state = sim.truth.listings()[MFN_SKU]
        for entry in state["attributes"]["purchasable_offer"]:
            entry["currency"] = "CAD"
        adapter = ListingsAdapter({"NA": client}, ListingsConfig())
        with pytest.raises(Rejected) as info:
            # No mapped currency: the listing's own (CAD) is used, and Amazon refuses it.
            await adapter.patch_listing("NA", US, MFN_SKU, {"list_price": "12.00", "currency": ""})
        text = str(info.value)
        assert "INVALID" in text and "currency 'CAD' is not valid for marketplace" in text
        assert "[purchasable_offer]" in text and "ERROR" in text
        decision = RetryPolicy().decide(1, info.value)
        assert decision.outcome == "parked" and "currency 'CAD'" in decision.reason


async def test_no_usd_fallback_and_no_silent_conversion(session):
    async with AmazonSimulator(seed=1, history_days=1, orders_per_day=1) as sim:
        client = make_client(sim, session)
        adapter = ListingsAdapter({"NA": client}, ListingsConfig())
        listing = await get_listing(client, MFN_SKU, [US])
        with pytest.raises(DataError, match="offer is in USD but QAD's list price is in EUR"):
            await adapter.patch_listing(
                "NA", US, MFN_SKU, {"list_price": "12.00", "currency": "EUR"}
            )
        # Neither the listing nor the mapping names a currency: park, never "USD".
        state = sim.truth.listings()[MFN_SKU]
        state["attributes"]["purchasable_offer"] = []
        assert listing["attributes"]["purchasable_offer"]
        with pytest.raises(DataError, match=r"no currency for ATVPDKIKX0DER.*\[mapping"):
            await adapter.patch_listing("NA", US, MFN_SKU, {"list_price": "12.00", "currency": ""})


async def test_fields_not_configured_are_not_sent(session):
    async with AmazonSimulator(seed=1, history_days=1, orders_per_day=1) as sim:
        client = make_client(sim, session)
        before = copy.deepcopy(await get_listing(client, MFN_SKU, [US]))
        adapter = ListingsAdapter({"NA": client}, ListingsConfig())  # default: price only
        changes = {"description": "QAD short text", "status": "IN", "currency": "USD"}
        report = await adapter.patch_listing("NA", US, MFN_SKU, changes)
        assert report.submission_id == "" and report.changed == []
        _applied(sim)
        assert (await get_listing(client, MFN_SKU, [US]))["attributes"] == before["attributes"]
        cfg = dataclasses.replace(ListingsConfig(), fields=("title",))
        report = await ListingsAdapter({"NA": client}, cfg).patch_listing(
            "NA", US, MFN_SKU, changes
        )
        assert report.changed == ["item_name (en_US)"]
