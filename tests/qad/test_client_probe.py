"""The start-up probe and the look-up proof, against the strict simulator.

A path the tenant lacks stops the client naming its key; a browse id QAD does not know answers
"no rows" like a real tenant, so an item browse with no rows is an error, and a look-up browse
with no rows stays unproven: the first create proves it or fails closed, and no second document
is ever posted through a look-up that cannot find the first.
"""

from __future__ import annotations

import dataclasses

import pytest

from engine.adapters.qad import QadBrowses, QadClient, QadPaths, QadSettings
from engine.errors import ConfigError, UnknownOutcome
from engine.sim.qad import QadSimulator
from tests.qad.conftest import SO_HEADERS, order, posts

UNKNOWN_BROWSE = "urn:browse:mfg:zz999"


async def test_every_path_and_browse_of_the_default_profile_passes(client, sim):
    # Entity paths answer 200/400/405; every browse holds its columns.
    probed = {p for m, p in sim.requests if m == "GET"}
    for path in QadPaths().entity_paths().values():
        assert f"/{path}" in probed
    assert "/api/erp/unplannedReceives/validateAndAssignDefaultsLine" in probed
    assert set(client.lookup_states()) == {
        "sales_order",
        "inventory_history",
        "customer_invoice",
        "journal_entry",
    }


async def test_missing_path_names_its_key_the_url_and_the_answer(session, settings, sim):
    paths = dataclasses.replace(QadPaths(), journal_entries="api/erp/journalEntryV9s")
    with pytest.raises(ConfigError) as info:
        await QadClient(session, settings(paths=paths)).start()
    text = str(info.value)
    assert "qad.paths.journal_entries" in text
    assert f"{sim.tenant_url()}/api/erp/journalEntryV9s?domainCode=10USA" in text
    assert "HTTP 404" in text


async def test_unsafe_path_fails_before_any_request(session, settings, sim):
    before = len(sim.requests)
    paths = dataclasses.replace(QadPaths(), items="../../evil/items")
    with pytest.raises(ConfigError, match=r"qad\.paths\.items"):
        await QadClient(session, settings(paths=paths)).start()
    assert len(sim.requests) == before


async def test_item_browse_answering_no_rows_is_a_config_error(session, settings):
    browses = dataclasses.replace(QadBrowses(), item=UNKNOWN_BROWSE)
    with pytest.raises(ConfigError, match=r"qad\.browses\.item .*answered no rows"):
        await QadClient(session, settings(browses=browses)).start()


async def test_wrong_column_key_names_it_and_lists_the_rows_columns(session, settings):
    browses = dataclasses.replace(QadBrowses(), item_price_column="pt_mstr.pt_prix")
    with pytest.raises(ConfigError) as info:
        await QadClient(session, settings(browses=browses)).start()
    text = str(info.value)
    assert "qad.browses.item_price_column" in text and "pt_mstr.pt_prix" in text
    assert "pt_mstr.pt_price" in text  # the columns the row does have


async def test_transient_probe_failures_are_retried(session, settings, sim):
    sim.faults.add("status", path="/api/erp/items", method="GET", status=503, times=2)
    async with QadClient(session, settings()) as c:
        assert c.transport is not None
    assert [k for k, _ in sim.faults.fired] == ["status", "status"]


async def test_first_create_proves_an_unproven_look_up(client_with, sim):
    async with client_with(probe_paths=False) as c:  # nothing proven at start
        assert c.lookup_states()["sales_order"] == "unproven"
        r = await c.post_sales_order(order())
        assert r.created
        assert c.lookup_states()["sales_order"] == "proven"
        assert (await c.post_sales_order(order())).created is False
    assert len(sim.sales_orders()) == 1


async def test_look_up_that_cannot_find_the_first_create_fails_closed(client_with, sim):
    browses = dataclasses.replace(QadBrowses(), sales_order=UNKNOWN_BROWSE)
    async with client_with(browses=browses) as c:
        assert c.lookup_states()["sales_order"] == "unproven"  # no rows: only a warning
        first = await c.post_sales_order(order())
        assert first.created  # the create counts as done...
        assert c.lookup_states()["sales_order"] == "broken"
        headers = posts(sim, SO_HEADERS)
        # ...and nothing more is posted through a look-up that cannot find what it made.
        for again in (order(), order(ref="113-0000002-0000002")):
            with pytest.raises(ConfigError, match=r"qad\.browses\.sales_order \("):
                await c.post_sales_order(again)
        assert posts(sim, SO_HEADERS) == headers
    assert len(sim.sales_orders()) == 1


async def test_unknown_outcome_through_an_unproven_look_up_stays_unknown_never_reposts(
    client_with, sim
):
    browses = dataclasses.replace(QadBrowses(), sales_order=UNKNOWN_BROWSE)
    sim.faults.add("commit_then_drop", path=SO_HEADERS, method="POST")
    async with client_with(browses=browses) as c:
        with pytest.raises(UnknownOutcome, match="outcome of its post is unknown"):
            await c.post_sales_order(order())
        uncertain = dataclasses.replace(order(), after_unknown_outcome=True)
        with pytest.raises(UnknownOutcome, match="earlier attempt"):
            await c.post_sales_order(uncertain)  # the retry is refused before sending
    assert posts(sim, SO_HEADERS) == 1 and len(sim.sales_orders()) == 1


async def test_earlier_unknown_outcome_waits_for_another_create_to_prove_the_look_up(
    client_with, sim
):
    async with client_with(probe_paths=False) as c:
        uncertain = dataclasses.replace(order(), after_unknown_outcome=True)
        with pytest.raises(UnknownOutcome, match="earlier attempt"):
            await c.post_sales_order(uncertain)
        assert posts(sim, SO_HEADERS) == 0
        # A never-attempted order is safe to post; finding it proves the look-up...
        await c.post_sales_order(order(ref="113-0000009-0000009"))
        assert c.lookup_states()["sales_order"] == "proven"
        # ...and now "not found" can be trusted: the uncertain order is posted once.
        result = await c.post_sales_order(uncertain)
        assert result.created
    assert posts(sim, SO_HEADERS) == 2 and len(sim.sales_orders()) == 2


async def test_probe_proves_a_look_up_with_a_row_it_returns(client, client_with, sim):
    assert client.lookup_states()["sales_order"] == "unproven"  # no order yet
    await client.post_sales_order(order())
    browse_gets = sum(1 for _, p in sim.requests if p == "/api/qracore/browses")
    async with client_with() as again:
        assert again.lookup_states()["sales_order"] == "proven"
    # One unfiltered page per browse, plus the filtered proof of the sales-order look-up.
    after = sum(1 for _, p in sim.requests if p == "/api/qracore/browses")
    assert after - browse_gets == len(QadBrowses().browse_ids()) + 1


async def test_wrong_look_up_column_names_it_once_the_browse_has_rows(client, client_with, sim):
    await client.post_sales_order(order())
    browses = dataclasses.replace(QadBrowses(), sales_order_po_column="so_mstr.so_custpo")
    with pytest.raises(ConfigError) as info:
        async with client_with(browses=browses):
            pass
    text = str(info.value)
    assert "qad.browses.sales_order_po_column" in text and "so_mstr.so_po" in text


async def test_browse_answering_an_http_error_names_its_key(session, tmp_path):
    async with QadSimulator(tmp_path / "q404.db", unknown_browse="404") as sim:
        s = QadSettings(
            tenant_url=sim.tenant_url(),
            username=sim.username,
            password=sim.password,
            browses=dataclasses.replace(QadBrowses(), journal_entry=UNKNOWN_BROWSE),
        )
        with pytest.raises(ConfigError, match=r"qad\.browses\.journal_entry = .*HTTP 404"):
            await QadClient(session, s).start()
