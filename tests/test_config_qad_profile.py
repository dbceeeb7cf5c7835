"""The QAD tenant profile in config.toml: every key settable, checked by name, evidence shown."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from engine.config import load_config, parse_config, to_toml
from engine.config.qad_profile import EVIDENCE, QadBrowses, QadFields, QadPaths, profile_keys
from engine.errors import ConfigError

SECTIONS = (("paths", QadPaths), ("browses", QadBrowses), ("fields", QadFields))


@pytest.mark.parametrize(("section", "cls"), SECTIONS)
def test_every_profile_key_declares_its_evidence_and_a_rule(section: str, cls: type) -> None:
    for f in dataclasses.fields(cls):
        assert f.metadata.get("evidence") in EVIDENCE, f"qad.{section}.{f.name}"
        assert callable(f.metadata.get("check")), f"qad.{section}.{f.name} has no rule"


@pytest.mark.parametrize(("section", "cls"), SECTIONS)
def test_every_profile_key_is_settable_from_the_file(section: str, cls: type, tmp_path) -> None:
    values = {}
    for key, value, _, _ in profile_keys(cls()):
        if value.startswith("urn:"):
            values[key] = value + "x"
        elif "/" in value:
            values[key] = value + "V2"
        else:
            values[key] = "tenant_" + value.replace(".", "_") if value else ""
    path = tmp_path / "config.toml"
    lines = [f"[qad.{section}]"] + [f'{k} = "{v}"' for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    cfg = load_config(path)
    got = getattr(cfg.qad, section)
    assert {k: getattr(got, k) for k in values} == values
    assert parse_config(tomllib.loads(to_toml(cfg))) == dataclasses.replace(cfg, source="<dict>")


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"paths": {"sales_order_headers": "/api/erp/x"}}, "qad.paths.sales_order_headers"),
        ({"paths": {"items": "https://evil.example/items"}}, "qad.paths.items"),
        ({"paths": {"items": "api/erp/items?x=1"}}, "qad.paths.items"),
        ({"browses": {"sales_order": "gp242"}}, "qad.browses.sales_order"),
        ({"browses": {"sales_order_po_column": "so po"}}, "qad.browses.sales_order_po_column"),
        ({"fields": {"so_customer_po": ""}}, "qad.fields.so_customer_po"),
        ({"fields": {"so_customer_po": 7}}, "qad.fields.so_customer_po"),
        ({"fields": {"no_such_field": "x"}}, "qad.fields.no_such_field"),
        ({"cancel_policy": "void"}, "qad.cancel_policy"),
    ],
)
def test_a_wrong_profile_value_is_refused_naming_the_key(table: dict, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"qad": table}, source="config.toml")
    assert named in str(info.value)
    assert str(info.value).startswith("config.toml:")


def test_the_ship_to_address_field_may_be_switched_off() -> None:
    cfg = parse_config({"qad": {"fields": {"so_ship_to_address": ""}}})
    assert cfg.qad.fields.so_ship_to_address == ""


def test_defaults_follow_the_real_names_the_issue_names() -> None:
    b, p, f = QadBrowses(), QadPaths(), QadFields()
    assert (b.sales_order, b.sales_order_po_column) == ("urn:browse:mfg:gp242", "so_mstr.so_po")
    assert b.inventory_history == "urn:browse:mfg:ic763"
    assert b.on_hand in ("urn:browse:mfg:gp164", "urn:browse:mfg:ic998")
    assert b.customer_invoice == "urn:browse:mfg:an001"
    assert "inventoryBalances" not in " ".join(p.entity_paths().values())
    assert "sim" not in " ".join(QadBrowses().browse_ids().values())
    assert f.so_customer_po != "customerPurchaseOrder"
