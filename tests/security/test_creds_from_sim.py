"""``creds set amazon|qad --from-sim URL``: the README recipe's way to store demo credentials."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.security.keys import load_master_key
from engine.security.vault import Vault
from engine.sim.amazon import AmazonSimulator
from engine.sim.qad import DEMO_PASSWORD, DEMO_USER, QadSimulator


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("ML_CONNECTOR_KEY", "ML_CONNECTOR_KEY_FILE", "ML_CONNECTOR_VAULT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    return tmp_path


def _vault(home: Path) -> Vault:
    key = load_master_key({"XDG_CONFIG_HOME": str(home / "cfg")}, create=False)
    return Vault.open(home / "cfg" / "ml-connector" / "vault.bin", key)


async def _in_thread(*argv: str) -> int:
    # The CLI runs its own event loop (asyncio.run): keep it off the simulators' loop.
    return await asyncio.to_thread(main, list(argv))


async def test_from_sim_stores_every_region_and_the_seller_id(home: Path) -> None:
    async with AmazonSimulator(seed=5) as sim, QadSimulator(home / "qad.db") as qad:
        assert await _in_thread("creds", "set", "amazon", "--from-sim", sim.base_url) == 0
        assert await _in_thread("creds", "set", "qad", "--from-sim", qad.tenant_url()) == 0
        seller = sim.sellers[0]
    vault = _vault(home)
    amazon = vault.get_amazon("default")
    assert amazon.client_id == seller.client_id and amazon.seller_id == seller.seller_id
    assert dict(amazon.refresh_tokens) == {r: rc.refresh_token for r, rc in seller.regions.items()}
    q: Any = vault.get("qad", "default")
    assert (q.tenant_url, q.username, q.password) == (qad.tenant_url(), DEMO_USER, DEMO_PASSWORD)


@pytest.mark.parametrize("url", ["https://sellingpartnerapi-na.amazon.com", "http://10.1.2.3:8600"])
def test_from_sim_refuses_a_remote_url(
    home: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["creds", "set", "amazon", "--from-sim", url]) == 2
    assert "this machine" in capsys.readouterr().err
    assert not (home / "cfg").exists()  # nothing created: no key, no vault


async def test_from_sim_names_the_wrong_kind_of_simulator(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with QadSimulator(home / "qad.db") as qad:
        # The QAD tenant URL handed to `creds set amazon`: the answer is not Amazon's.
        origin = qad.tenant_url().rsplit("/", 1)[0]
        assert await _in_thread("creds", "set", "amazon", "--from-sim", origin) == 2
    err = capsys.readouterr().err
    assert "not an ml-connector simulator" in err and "Traceback" not in err
