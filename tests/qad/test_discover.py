"""`ml-connector qad discover` over real HTTP against the QAD simulator, through the real CLI.

Cases: a default tenant (everything found), a tenant whose every name differs (the fragment it
prints, pasted into the config, makes everything found), a tenant without metadata (probes
only), a tenant missing one path and a browse that answers empty; plus the README's profile
table, which must list every key with its default and evidence level.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.config.qad_profile import QadBrowses, QadPaths, profile_keys
from engine.security.keys import encode_key, generate_key
from engine.security.vault import QadCredential, Vault
from engine.sim.qad import QadSimulator
from tests.qad.renamed import SECTIONS, renames

README = Path(__file__).resolve().parents[2] / "README.md"


def config_text(sim: QadSimulator, extra: str = "") -> str:
    return (
        f'[qad]\ntenant_url = "{sim.tenant_url()}"\n'
        '[mapping.marketplaces.ATVPDKIKX0DER]\ncustomer = "AMZ-US"\ncurrency = "USD"\n'
        'site = "10-100"\n' + extra
    )


async def run_cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    rc = await asyncio.to_thread(main, list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


async def discover_json(capsys: Any, cfg: Path) -> tuple[int, dict[str, Any]]:
    rc, out, err = await run_cli(
        capsys, "qad", "discover", "--config", str(cfg), "--demo-credentials", "--json"
    )
    assert err.strip() == "" or "Traceback" not in err, err
    return rc, json.loads(out)


def by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["config_key"]: k for k in report["keys"]}


def every_config_key() -> list[str]:
    return [
        f"qad.{section}.{f.name}"
        for section, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
    ]


# -- the README table ---------------------------------------------------------------------------


def profile_table() -> list[str]:
    """The README's key table, as engine/config/qad_profile.py says it must read."""
    rows = ["| key | default | evidence | classic QAD (`db`) |", "|---|---|---|---|"]
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            db, why = f.metadata.get("db", ""), f.metadata.get("why", "")
            where = " ".join(x for x in (f"`{db}`" if db else "", f"({why})" if why else "") if x)
            default = f"`{f.default}`" if f.default else '`""` (not sent)'
            rows.append(
                f"| `qad.{section}.{f.name}` | {default} | {f.metadata['evidence']} | {where} |"
            )
    return rows


def test_readme_profile_table_matches_the_profile():
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- qad-profile-table:[^>]*-->\n(.*?)\n<!-- /qad-profile-table -->", text, re.S
    )
    assert block, "README lost its qad-profile-table markers"
    want = profile_table()
    assert block.group(1).splitlines() == want, "regenerate the README table:\n" + "\n".join(want)
    assert len(want) - 2 == len(every_config_key())


# -- a default tenant ---------------------------------------------------------------------------


async def test_default_tenant_everything_found(tmp_path, capsys):
    async with QadSimulator(tmp_path / "qad.db", seed=1) as sim:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(sim))
        rc, out, err = await run_cli(
            capsys, "qad", "discover", "--config", str(cfg), "--demo-credentials"
        )
        assert rc == 0, out + err
        assert "missing " not in out and "ambiguous " not in out
        for key in every_config_key():
            assert re.search(rf"^found +\[[DCIG]\] {re.escape(key)} ", out, re.M), key
        assert "metadata: api/qracore/entitymetadatas:" in out
        assert "GET api/erp/salesOrderHeaders?domainCode=10USA" in out
        assert "nothing to paste" not in out and "[qad.paths]" not in out  # no fragment
        rc, report = await discover_json(capsys, cfg)
        assert rc == 0 and report["counts"]["found"] == len(every_config_key())
        assert report["fragment"] == ""
        look_up = by_key(report)["qad.browses.sales_order"]
        assert "listed in the metadata" in look_up["detail"]  # no order yet: no row
        # It only reads: the simulator saw no POST apart from the login.
        posts = [p for m, p in sim.requests if m == "POST" and not p.endswith("oauth/token")]
        assert posts == [] and any(m == "GET" for m, _ in sim.requests)


async def test_discover_through_the_vault_and_help(tmp_path, capsys, monkeypatch):
    key = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_KEY", encode_key(key))
    vault_path = tmp_path / "vault.bin"
    vault = Vault.open(vault_path, key, create=True)
    async with QadSimulator(tmp_path / "qad.db", seed=1) as sim:
        vault.put(
            QadCredential("erp", sim.tenant_url(), sim.username, sim.password, "10USA", "10USACO")
        )
        cfg = tmp_path / "config.toml"
        # No [mapping]: the blank unplanned record is asked for at a site the on-hand row shows.
        cfg.write_text(f'[qad]\ncredential = "erp"\ntenant_url = "{sim.tenant_url()}"\n')
        args = ("qad", "discover", "--config", str(cfg), "--vault", str(vault_path))
        rc, out, err = await run_cli(capsys, *args)
        assert rc == 0 and "0 missing, 0 ambiguous, 0 unverified" in out, out + err
        assert "GET api/erp/unplannedReceives?domainCode=10USA&siteCode=10-" in out
        assert sim.password not in out + err
        # A wrong password: one line on stderr, no traceback.
        vault.put(
            QadCredential("erp", sim.tenant_url(), sim.username, "wrong-pw-1", "10USA", "10USACO")
        )
        rc, out, err = await run_cli(capsys, *args)
        assert rc == 1 and err.count("\n") == 1 and "login" in err and "401" in err, err
        assert "Traceback" not in err and "wrong-pw-1" not in err
    # The tenant is gone: unreachable is one line too.
    rc, out, err = await run_cli(capsys, *args)
    assert rc == 1 and err.count("\n") == 1 and "cannot connect" in err, err
    # No such credential / bad config: exit 2, one line.
    cfg.write_text('[qad]\ncredential = "nobody"\n')
    rc, out, err = await run_cli(capsys, *args)
    assert rc == 2 and err.count("\n") == 1 and "nobody" in err, err
    cfg.write_text('[qad.paths]\nitems = "../escape"\n')
    rc, out, err = await run_cli(capsys, *args)
    assert rc == 2 and err.count("\n") == 1 and "qad.paths.items" in err, err
    with pytest.raises(SystemExit) as exit_info:
        main(["qad", "discover", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "It only" in text and "reads" in text and "ready-to-paste" in text
    assert "qad.paths.entity_metadata" in text and "ambiguous" in text


# -- a tenant with its own names ----------------------------------------------------------------


async def test_renamed_tenant_fragment_makes_everything_found(tmp_path, capsys):
    names = renames()
    async with QadSimulator(tmp_path / "qad.db", seed=1, renames=names) as sim:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(sim))
        rc, out, err = await run_cli(
            capsys, "qad", "discover", "--config", str(cfg), "--demo-credentials"
        )
        assert rc == 1, out + err
        fragment = out[out.index("# ml-connector qad discover") :]
        rc, report = await discover_json(capsys, cfg)
        assert rc == 1 and report["fragment"] == fragment
        keys = by_key(report)
        for section, cls in SECTIONS.items():
            for key, value, _, _ in profile_keys(cls()):
                row = keys[f"qad.{section}.{key}"]
                if value in names:
                    assert row["status"] == "missing", row
                    assert row["resolved"] == names[value], row
                    assert f"{key} = {json.dumps(names[value])}" in fragment
        entity = keys["qad.paths.journal_entries"]
        assert entity["probed"] == "GET api/erp/journalEntries?domainCode=10USA"
        assert entity["evidence"] == "G" and "HTTP 404" in entity["detail"]

        cfg.write_text(config_text(sim) + fragment)
        rc, report = await discover_json(capsys, cfg)
        assert rc == 0, [k for k in report["keys"] if k["status"] != "found"]
        assert report["counts"]["found"] == len(every_config_key())
        assert report["fragment"] == ""


# -- a tenant without metadata ------------------------------------------------------------------


async def test_tenant_without_metadata_probes_only(tmp_path, capsys):
    async with QadSimulator(tmp_path / "qad.db", seed=1, metadata=False) as sim:
        cfg = tmp_path / "config.toml"
        cfg.write_text(config_text(sim))
        rc, out, err = await run_cli(
            capsys, "qad", "discover", "--config", str(cfg), "--demo-credentials"
        )
        assert "metadata: tenant exposes no metadata; probes only" in out, out + err
        rc, report = await discover_json(capsys, cfg)
        keys = by_key(report)
        assert keys["qad.paths.entity_metadata"]["status"] == "unverified"
        for key in QadPaths().entity_paths():
            assert keys[f"qad.paths.{key}"]["status"] == "found", key
        assert keys["qad.paths.unplanned_validate_step"]["status"] == "found"
        for view in QadPaths.VIEW_OF:
            assert keys[f"qad.paths.{view}"]["status"] == "unverified", view
        # Item master and on-hand have rows: the ids and the columns are proven by probing.
        for key in ("item", "on_hand", *QadBrowses().columns_of("item")):
            assert keys[f"qad.browses.{key}"]["status"] == "found", key
        assert keys["qad.fields.so_customer_po"]["status"] == "unverified"
        # The blank unplanned record still proves the tree's own names.
        assert keys["qad.fields.unplanned_headers"]["status"] == "found"
        # A look-up browse without data cannot be told from an unknown id.
        invoice = keys["qad.browses.customer_invoice"]
        assert invoice["status"] == "ambiguous", invoice
        assert "answered no rows (unknown browse id, or no data yet)" in invoice["detail"]
        assert rc == 1 and report["fragment"] == ""


# -- a tenant missing one path, and a browse that answers empty ----------------------------------


async def test_missing_path_and_empty_browse(tmp_path, capsys):
    tenant_names = {"api/erp/journalEntries": "api/erp/ledgerPostings"}
    async with QadSimulator(tmp_path / "qad.db", seed=1, renames=tenant_names) as sim:
        cfg = tmp_path / "config.toml"
        unknown = '[qad.browses]\nitem = "urn:browse:mfg:gp999"\n'
        cfg.write_text(config_text(sim, unknown))
        rc, report = await discover_json(capsys, cfg)
        assert rc == 1
        keys = by_key(report)
        bad = {k: v for k, v in keys.items() if v["status"] != "found"}
        assert set(bad) == {"qad.paths.journal_entries", "qad.browses.item"}, bad
        path = bad["qad.paths.journal_entries"]
        assert path["status"] == "missing" and path["resolved"] == "api/erp/ledgerPostings"
        item = bad["qad.browses.item"]
        assert item["status"] == "missing" and item["resolved"] == "urn:browse:mfg:gp340"
        assert "answered no rows" in item["detail"]
        assert report["fragment"].splitlines()[2:] == [
            "",
            "[qad.paths]",
            'journal_entries = "api/erp/ledgerPostings"',
            "",
            "[qad.browses]",
            'item = "urn:browse:mfg:gp340"',
        ]
    # Without metadata the empty browse stays ambiguous and nothing can be resolved.
    async with QadSimulator(tmp_path / "bare.db", seed=1, metadata=False) as sim:
        cfg.write_text(config_text(sim, unknown))
        rc, report = await discover_json(capsys, cfg)
        item = by_key(report)["qad.browses.item"]
        assert rc == 1 and item["status"] == "ambiguous" and item["resolved"] == ""
        assert by_key(report)["qad.browses.item_code_column"]["status"] == "unverified"
