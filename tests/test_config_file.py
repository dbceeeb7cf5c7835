"""The shipped config.toml is a working, complete example that matches the simulated business."""

import dataclasses
from pathlib import Path

import pytest

from engine.config import load_config, to_toml
from engine.errors import ConfigError
from engine.sim.business import MARKETPLACES, sku_to_item

ROOT = Path(__file__).resolve().parents[1]
MPS = "A1PA6795UKMFR9,A1F83G8C2ARO7P"  # DE, UK: known marketplace ids


def test_shipped_config_loads_and_maps_the_whole_simulated_catalog():
    cfg = load_config(ROOT / "config.toml", env={})
    assert cfg.mapping.sku == sku_to_item()
    assert set(cfg.mapping.marketplaces) == {m.marketplace_id for m in MARKETPLACES}
    assert cfg.qad.tenant_url.endswith("/clouderp") and cfg.inventory.mfn_mode == "report"


def test_env_overrides_file_values():
    cfg = load_config(
        ROOT / "config.toml",
        env={"ML_CONNECTOR_DISPATCH_CONCURRENCY": "2", "ML_CONNECTOR_AMAZON_MARKETPLACES": MPS},
    )
    assert cfg.dispatch.concurrency == 2 and cfg.amazon.marketplaces == tuple(MPS.split(","))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[dispatch]\nconcurrency = 'four'\n", "dispatch.concurrency must be an integer"),
        ("[engine]\ndbb = 'x'\n", "unknown key engine.dbb"),
        ("[nope]\n", "unknown section [nope]"),
        ("[inventory]\nmfn_mode = 'sometimes'\n", "inventory.mfn_mode"),
        (
            "[mapping.marketplaces.X]\ncustomer = 'C'\n",
            "mapping.marketplaces.X.currency is required",
        ),
        ("not toml = = =", "not valid TOML"),
        ("[amazon]\nrequest_timeout_s = 0\n", "amazon.request_timeout_s must be a positive"),
        ("[amazon]\nrequest_timeout_s = nan\n", "amazon.request_timeout_s must be a positive"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, text, needle):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(p, env={})
    assert needle in str(exc.value) and str(p) in str(exc.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_to_toml_round_trips_the_shipped_config(tmp_path):
    shipped = load_config(ROOT / "config.toml", env={})
    path = tmp_path / "again.toml"
    path.write_text(to_toml(shipped), encoding="utf-8")
    again = load_config(path, env={})
    assert dataclasses.replace(again, source="") == dataclasses.replace(shipped, source="")
