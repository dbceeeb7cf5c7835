"""The tenant profile is real configuration: a QAD tenant whose every path, browse, column and
field has a non-default name syncs unchanged once config.toml maps those names, and the
default names are refused by that tenant (so nothing passes by accident)."""

from __future__ import annotations

import dataclasses

import pytest

from engine.errors import ConfigError
from tests.e2e.test_sync import assert_orders_match, assert_settlements_reconcile, latest_orders
from tests.qad.renamed import renamed_profile


async def test_a_tenant_with_other_names_for_everything_syncs_by_config_alone(make_world):
    renames, sections = renamed_profile(platform=True)
    async with make_world(qad_kw={"renames": renames}) as w:
        base = w.config()
        cfg = dataclasses.replace(base, qad=dataclasses.replace(base.qad, **sections))
        async with w.engine(cfg) as eng:
            report = await eng.sync_once()
            assert not report.poll_errors, report.poll_errors
            assert report.dispatched.get("parked", 0) == 0, report.dispatched
        orders = await latest_orders(cfg.engine.db)
        assert len(orders) > 50
        assert_orders_match(w, orders)
        assert assert_settlements_reconcile(w) >= 3


async def test_the_same_tenant_refuses_the_default_names_before_any_data_moves(make_world):
    renames, _ = renamed_profile(platform=True)
    async with make_world(qad_kw={"renames": renames}) as w:
        cfg = w.config()
        with pytest.raises(ConfigError, match=r"qad\.(paths|browses)\."):
            async with w.engine(cfg) as eng:
                await eng.sync_once()
        assert w.qad.sales_orders() == []
        assert w.qad.invoices() == []
