"""`ml-connector init` through the real CLI: questions on stdin, flags for scripts, no overwrite.

The written file is loaded by the project's loader, and (last test) used as written by the next
steps it prints: `ping` against both simulators, with only the documented environment
overrides pointing the production Amazon endpoints at the local simulator.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from engine.cli import main
from engine.config import load_config
from engine.config.marketplace_countries import STORES
from engine.config.marketplaces import MARKETPLACE_REGION
from engine.security.keys import encode_key, generate_key
from tests.e2e.test_run_sigterm import _vault


def _init(cwd: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "init", *argv],
        input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60, check=False,
    )  # fmt: skip


def test_interactive_answers_are_checked_and_asked_again(tmp_path) -> None:
    answers = "\n".join(
        [
            "US, XX",  # unknown marketplace: asked again
            "us,ca gb",  # case, separators and the ISO code of the UK
            "http://qad.example.com/clouderp",  # plain http off loopback: asked again
            "https://user:pw@qad.example.com/clouderp",  # userinfo: asked again
            "https://qad.example.com/clouderp/",
            "10 USA",  # not a code: asked again
            "10USA",
            "10USACO",
        ]
    )
    done = _init(tmp_path, stdin=answers + "\n")
    assert done.returncode == 0, done.stderr
    assert "unknown Amazon marketplace 'XX'" in done.stderr
    assert "must use https://" in done.stderr
    assert "user:password@" in done.stderr
    assert done.stderr.count("please try again") == 4, done.stderr

    cfg = load_config(tmp_path / "config.toml", env={})
    assert cfg.amazon.marketplaces == ("ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1F83G8C2ARO7P")
    assert cfg.qad.tenant_url == "https://qad.example.com/clouderp"
    assert (cfg.qad.domain, cfg.qad.entity) == ("10USA", "10USACO")
    uk = cfg.mapping.marketplaces["A1F83G8C2ARO7P"]
    assert (uk.customer, uk.currency, uk.name, uk.fba_site) == ("AMZ-UK", "GBP", "Amazon.co.uk", "")
    # Safe defaults: production Amazon, nothing mapped, no listing writes, db beside the file.
    assert cfg.amazon.endpoint == "" and cfg.amazon.lwa_url.startswith("https://api.amazon.com")
    assert cfg.mapping.sku == {} and cfg.amazon.listing_marketplaces == ()
    assert cfg.engine.db == str((tmp_path / "ml-connector.db").resolve())
    for step in ("creds set amazon --region NA", "creds set amazon --region EU", "creds set qad",
                 "qad discover --config config.toml", "ping --config config.toml"):  # fmt: skip
        assert step in done.stdout, (step, done.stdout)


def test_flags_write_without_questions_and_never_overwrite(tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "seller.toml"
    flags = ["--out", str(out), "--marketplace", "DE", "--marketplace", "fr,JP",
             "--tenant-url", "http://127.0.0.1:8081/clouderp",  # loopback: http allowed
             "--domain", "20EU", "--entity", "20EUCO", "--no-input"]  # fmt: skip
    done = _init(tmp_path, *flags)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing asked
    cfg = load_config(out, env={})
    assert cfg.amazon.marketplaces == ("A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1VC38T7YXB528")
    assert cfg.amazon.region == "EU"
    assert "creds set amazon --region FE" in done.stdout
    assert cfg.mapping.marketplaces["A1VC38T7YXB528"].currency == "JPY"
    written = out.read_text()

    # The refusals, in-process through the same entry point (each subprocess costs seconds).
    assert main(["init", *flags[:-1], "--entity", "OTHER", "--no-input"]) == 2
    assert "already exists; --force" in capsys.readouterr().err
    assert out.read_text() == written  # untouched
    assert main(["init", *flags, "--force", "--entity", "OTHER"]) == 0
    assert load_config(out, env={}).qad.entity == "OTHER"
    capsys.readouterr()

    assert main(["init", "--out", str(tmp_path / "x.toml"), "--marketplace", "ZZ"]) == 2
    assert "--marketplace: unknown Amazon marketplace 'ZZ'" in capsys.readouterr().err
    y = str(tmp_path / "y.toml")
    assert main(["init", "--out", y, "--marketplace", "US", "--no-input"]) == 2
    assert "--tenant-url is required" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("US\n"))  # input ends mid-way
    assert main(["init", "--out", str(tmp_path / "z.toml")]) == 2
    assert "end of input" in capsys.readouterr().err
    assert not any((tmp_path / n).exists() for n in ("x.toml", "y.toml", "z.toml"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".init-")] == []


def test_every_store_is_a_known_marketplace_of_its_region() -> None:
    assert {s.marketplace_id for s in STORES.values()} == set(MARKETPLACE_REGION)


async def test_written_config_pings_the_simulators(make_world, tmp_path) -> None:
    async with make_world(history_days=1, orders_per_day=2, start=datetime.now(UTC)) as w:
        out = str(tmp_path / "config.toml")  # init in-process: one subprocess less
        argv = ["init", "--out", out, "--marketplace", "US,CA", "--tenant-url", w.qad.tenant_url(),
                "--domain", "10USA", "--entity", "10USACO", "--no-input"]  # fmt: skip
        assert main(argv) == 0
        key = generate_key()
        vault = _vault(w, tmp_path / "vault.bin", key)
        env = {
            **os.environ,
            "ML_CONNECTOR_KEY": encode_key(key),
            # The documented overrides: the file stays as init wrote it (production Amazon).
            "ML_CONNECTOR_AMAZON_ENDPOINT": f"{w.amazon.base_url.rstrip('/')}/{{region}}",
            "ML_CONNECTOR_AMAZON_LWA_URL": w.amazon.lwa_url,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "ping", "--config", str(tmp_path / "config.toml"),
            "--vault", str(vault), env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert "FAILED" not in text, text
