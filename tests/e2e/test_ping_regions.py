"""``ping`` names a region of ``amazon.marketplaces`` whose refresh token is not in the vault.

The README recipe once stored only the NA token while ``config.toml`` lists EU and FE
marketplaces too: ``ping`` said nothing and ``sync`` then refused to start (issue 21.7).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.ops.ping import run_checks
from engine.security.credentials import AmazonCredential
from engine.security.keys import generate_key
from engine.security.vault import Vault


def _vault(tmp_path: Path, sim: Any, regions: tuple[str, ...]) -> Vault:
    s = sim.sellers[0]
    vault = Vault.open(tmp_path / "vault.bin", generate_key(), create=True)
    vault.put(
        AmazonCredential(
            name="default",
            client_id=s.client_id,
            client_secret=s.client_secret,
            refresh_tokens={r: s.regions[r].refresh_token for r in regions},
            seller_id=s.seller_id,
        )
    )
    return vault


async def test_ping_fails_for_a_configured_region_without_its_token(
    make_world: Any, tmp_path: Path
) -> None:
    async with make_world(history_days=1, orders_per_day=1) as w:
        cfg = w.config()
        regions = {"NA", "EU", "FE"}
        only_na = await run_checks(cfg, _vault(tmp_path / "a", w.amazon, ("NA",)), only="amazon")
        every = await run_checks(
            cfg, _vault(tmp_path / "b", w.amazon, tuple(sorted(regions))), only="amazon"
        )
    missing = [c for c in only_na if c.step == "refresh token"]
    assert {c.target for c in missing} == {"default EU", "default FE"}
    assert all(c.status == "FAILED" and "--region" in c.fix for c in missing)
    assert "A1PA6795UKMFR9" in next(c.detail for c in missing if c.target == "default EU")
    assert not [c for c in every if c.step == "refresh token"]
