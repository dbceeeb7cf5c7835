"""Hostile config: URLs that receive secrets, marketplace ids, enums and paths are checked at load.

Issue items 2 and 13/14 (config part): ``amazon.lwa_url`` / ``endpoint`` took plain http to any
host, ``user:pass@`` and ``file:``; an unknown marketplace id, ``region = "XX"``,
``synchronous = "OFF"``, ``db = ""`` and a ``raw_dir`` that is a file all got past load. Each is
now one ConfigError naming the key and the file, and the CLI exits 2 with one line, no traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.config import load_config, parse_config
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def load_text(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


def refused(tmp_path: Path, text: str, *needles: str) -> str:
    p = load_text(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    msg = str(info.value)
    assert str(p) in msg and "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


# -- item 2: the Amazon URLs -----------------------------------------------------------------

BAD_URLS = [
    ("http://evil.example/auth/o2/token", "https"),
    ("http://api.amazon.com/auth/o2/token", "https"),
    ("http://10.0.0.5/auth/o2/token", "https"),
    ("https://user:pass@api.amazon.com/auth/o2/token", "user:password"),
    ("https://user@api.amazon.com/auth/o2/token", "user:password"),
    ("file:///etc/passwd", "https"),
    ("ftp://api.amazon.com/token", "https"),
    ("api.amazon.com/auth/o2/token", "https"),
    ("https://api.amazon.com/auth/o2/token?redirect=http://evil", "query"),
    ("https://api.amazon.com/auth/o2/token#x", "fragment"),
    ("https:///auth/o2/token", "host"),
    ("https://api.amazon.com/a/../b", "'..'"),
    ("https://api.amazon.com/a b", "whitespace"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_URLS)
@pytest.mark.parametrize("key", ["lwa_url", "endpoint"])
def test_amazon_urls_that_would_leak_secrets_are_refused(
    tmp_path: Path, key: str, url: str, reason: str
) -> None:
    refused(tmp_path, f'[amazon]\n{key} = "{url}"\n', f"amazon.{key}", reason)


def test_lwa_url_may_not_be_empty(tmp_path: Path) -> None:
    refused(tmp_path, '[amazon]\nlwa_url = ""\n', "amazon.lwa_url is empty")


@pytest.mark.parametrize(
    "endpoint",
    [
        "",  # derive the production host from the region
        "https://sellingpartnerapi-eu.amazon.com",
        "https://sellingpartnerapi-{region}.amazon.com",
        "http://127.0.0.1:8600/{region}",
        "http://localhost:8600/{region}/",
        "http://[::1]:8600/{region}",
    ],
)
def test_good_endpoints_load_unchanged(tmp_path: Path, endpoint: str) -> None:
    cfg = load_config(load_text(tmp_path, f'[amazon]\nendpoint = "{endpoint}"\n'), env={})
    assert cfg.amazon.endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint", ["https://{host}.amazon.com", "http://127.0.0.1:8600/{region}/{x}", "https://a/{"]
)
def test_endpoint_takes_only_the_region_placeholder(tmp_path: Path, endpoint: str) -> None:
    refused(tmp_path, f'[amazon]\nendpoint = "{endpoint}"\n', "amazon.endpoint", "{region}")


def test_url_from_an_environment_override_names_the_variable() -> None:
    env = {"ML_CONNECTOR_AMAZON_LWA_URL": "http://evil.example/token"}
    with pytest.raises(ConfigError) as info:
        parse_config({}, source="c.toml", env=env)
    msg = str(info.value)
    assert msg.startswith("c.toml: amazon.lwa_url") and "$ML_CONNECTOR_AMAZON_LWA_URL" in msg


def test_the_shipped_and_production_urls_load() -> None:
    cfg = load_config(ROOT / "config.toml", env={})
    assert cfg.amazon.lwa_url.startswith("http://127.0.0.1:")
    prod = parse_config({"amazon": {"lwa_url": "https://api.amazon.com/auth/o2/token"}})
    assert prod.amazon.lwa_url == "https://api.amazon.com/auth/o2/token"


# -- items 13/14: marketplaces and region ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[amazon]\nmarketplaces = ["ATVPDKIKX0DER", "NOPE"]\n', "amazon.marketplaces"),
        ('[amazon]\nlisting_marketplaces = ["atvpdkikx0der"]\n', "amazon.listing_marketplaces"),
        ('[mapping.marketplaces.NOPE]\ncustomer = "C"\ncurrency = "USD"\n', "mapping.marketplaces"),
    ],
)
def test_unknown_marketplace_ids_are_one_line_config_errors(
    tmp_path: Path, text: str, where: str
) -> None:
    msg = refused(tmp_path, text, where, "unknown marketplace id")
    assert "'NOPE'" in msg or "'atvpdkikx0der'" in msg


def test_unknown_marketplace_from_the_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\$ML_CONNECTOR_AMAZON_MARKETPLACES.*'XX'"):
        parse_config({}, source="c.toml", env={"ML_CONNECTOR_AMAZON_MARKETPLACES": "XX"})


def test_known_marketplaces_of_every_region_load() -> None:
    ids = ["ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"]
    cfg = parse_config({"amazon": {"marketplaces": ids, "listing_marketplaces": ids[:1]}})
    assert cfg.amazon.marketplaces == tuple(ids)


def test_the_marketplace_table_has_one_home_below_config() -> None:
    from engine.adapters.amazon import regions
    from engine.config import marketplaces

    assert regions.MARKETPLACE_REGION is marketplaces.MARKETPLACE_REGION
    assert regions.HOSTS is marketplaces.HOSTS and regions.region_of("A1VC38T7YXB528") == "FE"


@pytest.mark.parametrize("value", ["XX", "na", "", "US"])
def test_region_must_be_na_eu_or_fe(tmp_path: Path, value: str) -> None:
    refused(tmp_path, f'[amazon]\nregion = "{value}"\n', "amazon.region must be one of")


def test_each_real_region_loads() -> None:
    for r in ("NA", "EU", "FE"):
        assert parse_config({"amazon": {"region": r}}).amazon.region == r


# -- engine / poll / inventory / orders_api ----------------------------------------------------


@pytest.mark.parametrize("value", ["OFF", "off", "0", "", "FULL; DROP TABLE events"])
def test_synchronous_off_is_a_config_error(tmp_path: Path, value: str) -> None:
    refused(tmp_path, f'[engine]\nsynchronous = "{value}"\n', "engine.synchronous must be one of")


def test_synchronous_levels_the_log_supports_load() -> None:
    for v in ("FULL", "NORMAL", "EXTRA", "normal"):
        assert parse_config({"engine": {"synchronous": v}}).engine.synchronous == v


@pytest.mark.parametrize("value", ["", "   ", "a\\u0000b"])
def test_empty_db_is_one_clear_error(tmp_path: Path, value: str) -> None:
    refused(tmp_path, f'[engine]\ndb = "{value}"\n', "engine.db")


def test_db_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    refused(tmp_path, f'[engine]\ndb = "{tmp_path / "events"}"\n', "engine.db", "directory")


def test_raw_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "raw").write_text("not a directory")
    refused(tmp_path, f'[poll]\nraw_dir = "{tmp_path / "raw"}"\n', "poll.raw_dir", "directory")


def test_raw_dir_with_nul_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, '[poll]\nraw_dir = "raw\\u0000x"\n', "poll.raw_dir", "NUL")


def test_raw_dir_missing_or_a_directory_loads(tmp_path: Path) -> None:
    for raw in (tmp_path / "later", tmp_path):
        cfg = load_config(load_text(tmp_path, f'[poll]\nraw_dir = "{raw}"\n'), env={})
        assert cfg.poll.raw_dir == str(raw)


def test_orders_api_and_mfn_mode_are_closed_sets(tmp_path: Path) -> None:
    refused(tmp_path, '[amazon]\norders_api = "v1"\n', "amazon.orders_api must be one of")
    refused(tmp_path, '[inventory]\nmfn_mode = "both"\n', "inventory.mfn_mode must be one of")
    with pytest.raises(ConfigError, match=r"\$ML_CONNECTOR_INVENTORY_MFN_MODE"):
        parse_config({}, source="c.toml", env={"ML_CONNECTOR_INVENTORY_MFN_MODE": "both"})


# -- the CLI: exit 2, one line, no traceback -----------------------------------------------------

CLI_CASES = [
    ('[amazon]\nlwa_url = "http://evil.example/token"\n', "amazon.lwa_url"),
    ('[amazon]\nendpoint = "https://u:p@evil.example/{region}"\n', "amazon.endpoint"),
    ("[dispatch]\nqad_rate_per_s = nan\n", "dispatch.qad_rate_per_s"),
    ("[dispatch]\nqad_rate_per_s = inf\n", "dispatch.qad_rate_per_s"),
    ("[dispatch]\ntimeout_s = 0\n", "dispatch.timeout_s"),
    ("[dispatch]\nmax_attempts = -3\n", "dispatch.max_attempts"),
    ('[engine]\nsynchronous = "OFF"\n', "engine.synchronous"),
    ('[engine]\ndb = ""\n', "engine.db"),
    ('[amazon]\nmarketplaces = ["NOPE"]\n', "amazon.marketplaces"),
    ('[amazon]\nregion = "XX"\n', "amazon.region"),
    ('[mapping.marketplaces.NOPE]\ncustomer = "C"\ncurrency = "USD"\n', "mapping.marketplaces"),
    ('[poll]\nraw_dir = "afile"\n', "poll.raw_dir"),
]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No inherited overrides, key or vault: the run must stop at the config, nowhere else."""
    import os

    for var in [v for v in os.environ if v.startswith("ML_CONNECTOR_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("ML_CONNECTOR_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    return tmp_path


@pytest.mark.parametrize(("text", "key"), CLI_CASES)
@pytest.mark.parametrize("command", ["sync", "ping"])
def test_cli_exits_2_with_one_line_naming_the_key(
    isolated: Path, capsys: pytest.CaptureFixture[str], command: str, text: str, key: str
) -> None:
    path = load_text(isolated, text)
    argv = [command, "--config", str(path), "--vault", str(isolated / "vault.bin")]
    rc = main([*argv, "--once"] if command == "sync" else argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert key in err and str(path) in err, err
