"""`ping` against the QAD simulator checks the tenant profile key by key, and every fix it prints
names a key that exists: a missing path, a browse that answers empty (item: failure; look-up:
warning), a wrong column, a tenant with its own names (and the config that maps them)."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import aiohttp

from engine.adapters.qad.settings import QadSettings
from engine.cli import main
from engine.config import parse_config
from engine.config.qad_profile import QadBrowses, QadPaths, profile_keys
from engine.ops.ping import Check, run_checks
from engine.ops.qad_probes import login
from engine.security.keys import encode_key, generate_key
from engine.security.vault import QadCredential, Vault
from engine.sim.qad import QadSimulator
from tests.qad.renamed import SECTIONS, renames

KEY = re.compile(r"qad\.(paths|browses|fields)\.([a-z_]+)")


def vault_for(tmp_path: Any, sim: QadSimulator) -> Vault:
    vault = Vault.open(tmp_path / f"vault-{secrets.token_hex(4)}.bin", generate_key(), create=True)
    vault.put(
        QadCredential("erp", sim.tenant_url(), sim.username, sim.password, "10USA", "10USACO")
    )
    return vault


async def ping(tmp_path: Any, sim: QadSimulator, qad: dict[str, Any] | None = None) -> list[Check]:
    cfg = parse_config({"qad": {"credential": "erp", **(qad or {})}})
    checks = await run_checks(cfg, vault_for(tmp_path, sim), only="qad", timeout_s=5)
    assert checks[0].step == "login" and checks[0].status == "ok", checks[0]
    return checks


def named_keys(checks: list[Check]) -> list[tuple[str, str]]:
    """Every config key a fix line names; each must exist in the profile."""
    found = [m.groups() for c in checks for m in KEY.finditer(c.fix)]
    for section, key in found:
        assert hasattr(SECTIONS[section](), key), f"fix names qad.{section}.{key}: no such key"
    return [(s, k) for s, k in found]


async def seed_sales_order(sim: QadSimulator, po: str) -> None:
    """One sales-order header with customer PO ``po``, posted the way the contract says."""
    settings = QadSettings(sim.tenant_url(), sim.username, sim.password, request_timeout_s=5)
    header = {
        "uri": "",
        "salesOrderNumber": "",
        "domainCode": "10USA",
        "soldToCustomerCode": "AMZ-US",
        "billToCustomerCode": "AMZ-US",
        "shipToCustomerCode": "AMZ-US",
        "siteCode": "10-100",
        "currencyCode": "USD",
        "orderDate": "2026-01-05T00:00:00.000Z",
        "dueDate": "2026-01-05T00:00:00.000Z",
        "purchaseOrder": po,
        "dataOperation": "C",
        "concurrencyHash": "",
    }
    async with aiohttp.ClientSession() as session:
        transport = await login(session, settings)
        await transport.json(
            "POST",
            "api/erp/salesOrderHeaders",
            params={"viewUri": QadPaths().sales_order_view, "domainCode": "10USA"},
            body={"supplementaryMessages": [], "salesOrderHeaders": [header]},
            write=True,
        )


def not_ok(checks: list[Check]) -> dict[str, Check]:
    return {c.step: c for c in checks if c.status != "ok"}


async def test_default_tenant_every_path_and_browse_ok(tmp_path):
    async with QadSimulator(tmp_path / "qad.db", seed=1) as sim:
        checks = await ping(tmp_path, sim)
    steps = {c.step: c for c in checks}
    for key in QadPaths().entity_paths():
        assert steps[f"path {key}"].status == "ok", steps[f"path {key}"]
    for owner in ("unplanned_receives", "unplanned_issues"):
        assert steps[f"path unplanned_validate_step ({owner})"].status == "ok"
    for key in QadBrowses().browse_ids():
        assert steps[f"browse {key}"].status in ("ok", "warn"), steps[f"browse {key}"]
    assert "columns ok" in steps["browse item"].detail
    assert "columns ok" in steps["browse on_hand"].detail
    # Only look-up browses without data may warn (unproven until the first create).
    for check in not_ok(checks).values():
        assert check.status == "warn" and "look-up unproven" in check.detail, check
    named_keys(checks)


async def test_lookup_browse_with_data_is_proven(tmp_path):
    async with QadSimulator(tmp_path / "qad.db", seed=1) as sim:
        before = {c.step: c for c in await ping(tmp_path, sim)}
        await seed_sales_order(sim, "113-0000001-0000001")
        after = {c.step: c for c in await ping(tmp_path, sim)}
    assert before["browse sales_order"].status == "warn"
    proven = after["browse sales_order"]
    assert proven.status == "ok" and "look-up proven" in proven.detail, proven


async def test_missing_path_and_empty_browses(tmp_path):
    tenant_names = {"api/erp/journalEntries": "api/erp/ledgerPostings"}
    async with QadSimulator(tmp_path / "qad.db", seed=1, renames=tenant_names) as sim:
        checks = await ping(
            tmp_path,
            sim,
            {"browses": {"item": "urn:browse:mfg:gp999", "sales_order": "urn:browse:mfg:gp998"}},
        )
    bad = not_ok(checks)
    path = bad["path journal_entries"]
    assert path.status == "FAILED" and "HTTP 404" in path.detail
    assert "qad.paths.journal_entries" in path.fix and "qad discover" in path.fix
    item = bad["browse item"]
    assert item.status == "FAILED" and "answered no rows" in item.detail
    assert "qad.browses.item" in item.fix
    so = bad["browse sales_order"]
    assert so.status == "warn" and "look-up unproven" in so.detail
    assert "qad.browses.sales_order" in so.fix
    failed = [c.step for c in checks if c.status == "FAILED"]
    assert sorted(failed) == ["browse item", "path journal_entries"]
    assert ("paths", "journal_entries") in named_keys(checks)


async def test_tenant_answering_404_for_an_unknown_browse(tmp_path):
    async with QadSimulator(tmp_path / "qad.db", seed=1, unknown_browse="404") as sim:
        checks = await ping(tmp_path, sim, {"browses": {"journal_entry": "urn:browse:mfg:gl999"}})
    bad = not_ok(checks)["browse journal_entry"]
    assert bad.status == "FAILED" and "HTTP 404" in bad.detail
    assert named_keys([bad]) == [("browses", "journal_entry")]


async def test_wrong_column_names_its_key(tmp_path):
    async with QadSimulator(tmp_path / "qad.db", seed=1) as sim:
        checks = await ping(tmp_path, sim, {"browses": {"item_price_column": "pt_mstr.pt_cost"}})
    bad = not_ok(checks)["browse item"]
    assert bad.status == "FAILED" and "pt_mstr.pt_cost" in bad.detail
    assert "pt_mstr.pt_price" in bad.detail  # the row's real columns are listed
    assert named_keys([bad]) == [("browses", "item_price_column")]


async def test_renamed_tenant_fails_key_by_key_until_the_config_maps_it(
    tmp_path, capsys, monkeypatch
):
    names = renames()
    async with QadSimulator(tmp_path / "qad.db", seed=1, renames=names) as sim:
        checks = await ping(tmp_path, sim)
        failed = {c.step for c in checks if c.status == "FAILED"}
        assert {f"path {k}" for k in QadPaths().entity_paths()} <= failed
        assert {"browse item", "browse on_hand"} <= failed
        keys = named_keys(checks)
        assert ("paths", "sales_order_headers") in keys and ("browses", "item") in keys

        # The config that maps every renamed key (what `qad discover` prints): all ok, so the
        # QadSettings ping builds carries the profile.
        profile: dict[str, dict[str, str]] = {}
        for section, cls in SECTIONS.items():
            for key, value, _, _ in profile_keys(cls()):
                if value in names:
                    profile.setdefault(section, {})[key] = names[value]
        checks = await ping(tmp_path, sim, profile)
        assert [c for c in checks if c.status == "FAILED"] == []

        # The same through the real CLI.
        key = generate_key()
        vault_path = tmp_path / "cli-vault.bin"
        vault = Vault.open(vault_path, key, create=True)
        vault.put(
            QadCredential("erp", sim.tenant_url(), sim.username, sim.password, "10USA", "10USACO")
        )
        cfg = tmp_path / "config.toml"
        cfg.write_text('[qad]\ncredential = "erp"\n')
        args = ["ping", "--config", str(cfg), "--vault", str(vault_path), "--only", "qad"]
        monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))
        rc = await asyncio.to_thread(main, args)
        out = capsys.readouterr().out
        assert rc == 1 and "fix: set qad.paths.sales_order_headers" in out, out
