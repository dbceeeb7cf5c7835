"""``[poll]``: poller windows from config.toml, safe defaults, clear validation errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.config import load_config, parse_config
from engine.errors import ConfigError
from engine.pollers.orders import MIN_LAG, OrdersPollConfig
from engine.pollers.settlements import SettlementsPollConfig

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_toml_gives_safe_poller_settings():
    poll = load_config(ROOT / "config.toml", env={}).poll
    o = OrdersPollConfig.from_poll(poll, ["ATVPDKIKX0DER"], "v0")
    assert o.lag >= MIN_LAG and o.overlap > timedelta(0) and o.api == "v0"
    assert o.max_window <= o.initial_lookback
    s = SettlementsPollConfig.from_poll(poll, Path("raw"))
    assert timedelta(0) < s.lookback <= timedelta(days=90)


def test_values_reach_the_pollers_and_env_overrides():
    cfg = parse_config(
        {"poll": {"orders_overlap_s": 900, "orders_end_lag_s": 180, "raw_dir": "/srv/raw"}},
        env={"ML_CONNECTOR_POLL_SETTLEMENTS_LOOKBACK_DAYS": "30"},
    )
    o = OrdersPollConfig.from_poll(cfg.poll, ("A1PA6795UKMFR9",))
    assert (o.overlap, o.lag) == (timedelta(minutes=15), timedelta(minutes=3))
    assert o.api == "2026-01-01"  # v2026 stays the default
    assert SettlementsPollConfig.from_poll(cfg.poll, Path(cfg.poll.raw_dir)).lookback == timedelta(
        days=30
    )


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("orders_end_lag_s", 60, "poll.orders_end_lag_s must be >= 120"),
        ("orders_overlap_s", -1, "poll.orders_overlap_s must be >= 0"),
        ("orders_every_s", 0, "poll.orders_every_s must be a positive number"),
        ("inventory_every_s", float("nan"), "poll.inventory_every_s must be a positive number"),
        ("settlements_lookback_days", 120, "poll.settlements_lookback_days must be in (0, 90]"),
        ("orders_max_window_days", -2, "poll.orders_max_window_days must be a positive"),
        ("raw_dir", 5, "poll.raw_dir must be"),
        ("orders_lag", 200, "unknown key poll.orders_lag"),
    ],
)
def test_unsafe_values_are_config_errors_naming_the_key(tmp_path, key, value, needle):
    f = tmp_path / "c.toml"
    f.write_text(f"[poll]\n{key} = {value!r}\n")
    with pytest.raises(ConfigError) as ei:
        load_config(f, env={})
    assert needle in str(ei.value) and str(f) in str(ei.value)
