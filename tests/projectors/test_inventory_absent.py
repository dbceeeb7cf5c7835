"""Inventory projector safety rules: unknown snapshots never zero stock, absent mapped items are
zeroed only after confirmation, an item held under another SKU is never zeroed, and a shared
FBA site follows one marketplace (no double counting). Config: shared sites are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.config import MappingConfig, MarketplaceMap, parse_config
from engine.errors import ConfigError
from engine.log.records import StoredEvent
from engine.projectors.inventory import InventoryProjector, fba_sources
from engine.projectors.mapping import Mapper

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _map(**extra: MarketplaceMap) -> MappingConfig:
    us = MarketplaceMap("AMZ-US", "USD", fba_site="10-FBA", warehouse_site="10-100")
    return MappingConfig(
        sku={"SKU-A": "10-1000", "SKU-A2": "10-1000", "SKU-B": "10-1010", "SKU-C": "10-1020"},
        marketplaces={US: us, **extra},
    )


def _snap(
    seq: int,
    items: dict[str, int],
    *,
    mp: str = US,
    stream: str = "amazon.inventory.fba",
    **kw: Any,
) -> StoredEvent:
    payload = {"marketplace_id": mp, "snapshot": seq, "items": items, **kw}
    return StoredEvent(seq, stream, "X", mp, "d", payload, "test", T0 + timedelta(minutes=seq))


def _run(proj: InventoryProjector, events: list[StoredEvent]) -> list[list[tuple[str, str]]]:
    """Per event: the (item, target) of each align command."""
    state: dict[str, Any] = {}
    out = []
    for e in events:
        p = proj.project(e, state)
        out.append([(c.body["item"], c.body["target"]) for c in p.commands])
        state.update({k: v for k, v in p.state.items() if v is not None})
    return out


def test_incomplete_snapshots_neither_adjust_nor_count_as_missing() -> None:
    proj = InventoryProjector(Mapper(_map()), "adjust", realign_every_s=3600)
    full = {"SKU-A": 5, "SKU-B": 3, "SKU-C": 1}
    out = _run(
        proj,
        [
            _snap(1, full),
            _snap(2, {}, complete=False),
            _snap(3, {}, complete=False),
            _snap(4, full),
            _snap(5, {"SKU-A": 5}, stream="amazon.inventory.mfn", complete=False),
        ],
    )
    assert out[0] == [("10-1000", "5"), ("10-1010", "3"), ("10-1020", "1")]
    assert out[1:] == [[], [], [], []]  # nothing zeroed, nothing re-sent


def test_mapped_item_absent_from_fba_is_zeroed_after_two_complete_snapshots() -> None:
    proj = InventoryProjector(Mapper(_map()), realign_every_s=3600)
    out = _run(proj, [_snap(1, {"SKU-A": 5}), _snap(2, {"SKU-A": 5}), _snap(3, {"SKU-A": 5})])
    # 10-1010 and 10-1020: QAD may hold them at 10-FBA, Amazon holds none in FBA
    assert out[0] == [("10-1000", "5")]
    assert out[1] == [("10-1010", "0"), ("10-1020", "0")]
    assert out[2] == []  # confirmed once; again only at the next realignment
    later = _snap(4, {"SKU-A": 5})
    later = later._replace(recorded_at=T0 + timedelta(hours=2))
    state: dict[str, Any] = {}
    for e in [_snap(1, {"SKU-A": 5}), _snap(2, {"SKU-A": 5}), later]:
        p = proj.project(e, state)
        state.update(p.state)
    assert sorted((c.body["item"], c.body["target"]) for c in p.commands) == [
        ("10-1000", "5"),
        ("10-1010", "0"),
        ("10-1020", "0"),
    ]


def test_absent_after_one_and_mfn_never_zeroes_items_it_never_listed() -> None:
    proj = InventoryProjector(Mapper(_map()), absent_after=1)
    assert _run(proj, [_snap(1, {"SKU-A": 5})]) == [
        [("10-1000", "5"), ("10-1010", "0"), ("10-1020", "0")]
    ]
    mfn = [_snap(i, {"SKU-B": 2}, stream="amazon.inventory.mfn") for i in (1, 2, 3)]
    assert _run(InventoryProjector(Mapper(_map()), "adjust"), mfn) == [[("10-1010", "2")], [], []]


def test_an_item_still_held_under_another_sku_is_not_zeroed() -> None:
    proj = InventoryProjector(Mapper(_map()))
    events = [
        _snap(1, {"SKU-A": 5, "SKU-B": 1, "SKU-C": 1}),
        _snap(2, {"SKU-A2": 4, "SKU-B": 1, "SKU-C": 1}),
        _snap(3, {"SKU-A2": 4, "SKU-B": 1, "SKU-C": 1}),
    ]
    out = _run(proj, events)
    assert out[1] == [("10-1000", "4")]
    assert out[2] == []  # SKU-A vanished twice, but item 10-1000 is held as SKU-A2


def test_a_shared_fba_site_follows_one_marketplace_never_the_sum() -> None:
    ca = MarketplaceMap("AMZ-CA", "CAD", fba_site="10-FBA")
    mapping = _map(**{CA: ca})
    sources = fba_sources([US, CA], mapping)
    assert sources == {"10-FBA": US}
    proj = InventoryProjector(Mapper(mapping), fba_sources=sources)
    pooled = {"SKU-A": 5, "SKU-B": 3, "SKU-C": 1}  # the NA pool: the same units in both
    out = _run(proj, [_snap(1, pooled), _snap(2, pooled, mp=CA)])
    assert out == [[("10-1000", "5"), ("10-1010", "3"), ("10-1020", "1")], []]


def _cfg(allow: bool | None) -> dict[str, Any]:
    inv = {} if allow is None else {"allow_shared_fba_site": allow}
    return {
        "amazon": {"marketplaces": [US, CA]},
        "inventory": inv,
        "mapping": {
            "marketplaces": {
                US: {"customer": "AMZ-US", "currency": "USD", "fba_site": "10-FBA"},
                CA: {"customer": "AMZ-CA", "currency": "CAD", "fba_site": "10-FBA"},
            }
        },
    }


def test_two_marketplaces_on_one_fba_site_are_a_config_error_unless_allowed() -> None:
    for allow in (None, False):
        with pytest.raises(ConfigError, match=rf"mapping\.marketplaces\.{CA}\.fba_site"):
            parse_config(_cfg(allow), source="c.toml")
    cfg = parse_config(_cfg(True), source="c.toml")
    assert cfg.inventory.allow_shared_fba_site is True
    with pytest.raises(ConfigError, match=r"inventory\.fba_quantity"):
        parse_config({"inventory": {"fba_quantity": "total"}}, source="c.toml")
    with pytest.raises(ConfigError, match=r"inventory\.absent_after_snapshots"):
        parse_config({"inventory": {"absent_after_snapshots": 0}}, source="c.toml")
