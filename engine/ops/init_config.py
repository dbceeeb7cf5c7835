"""``ml-connector init``: a first config.toml for a new seller, from answers they can give.

What a first-time user knows: the Amazon stores they sell in (country codes), their QAD tenant's
URL, domain and entity. Everything else starts at a safe default and is commented in the file:
no SKU mapped (an order with an unmapped SKU is parked, never guessed), no stock alignment
(``fba_site``/``warehouse_site`` empty), no listing writes (``listing_marketplaces = []``),
the production Amazon endpoints. The answers are checked by the same rules the loader applies
(known marketplace, the tenant-URL rules), and the text is loaded with ``load_config`` before
it replaces anything, so ``init`` never writes a file the engine would refuse.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.config import load_config
from engine.config.marketplace_countries import STORES, Store, store_for
from engine.config.marketplaces import region_of
from engine.config.urls import validate_tenant_url
from engine.errors import ConfigError

__all__ = [
    "InitAnswers",
    "check_code",
    "check_tenant_url",
    "next_steps",
    "parse_marketplaces",
    "render_config",
    "write_new_config",
]

# QAD domain and entity codes: short, no spaces or quotes [I] (the public examples: 10USA,
# 10USACO); the loader takes any string, this only catches a pasted sentence or URL.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


@dataclass(frozen=True, slots=True)
class InitAnswers:
    stores: tuple[Store, ...]
    tenant_url: str
    domain: str
    entity: str
    db: str = "ml-connector.db"

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({region_of(s.marketplace_id) for s in self.stores}))


def parse_marketplaces(text: str) -> tuple[Store, ...]:
    """``"US, de uk"`` -> the stores; ConfigError naming an unknown code (and the known ones)."""
    codes = [c for c in re.split(r"[\s,;]+", text.strip()) if c]
    if not codes:
        raise ConfigError("name at least one Amazon store, e.g. US or DE,FR")
    stores: list[Store] = []
    for code in codes:
        store = store_for(code)
        if store is None:
            raise ConfigError(
                f"unknown Amazon marketplace {code!r}; known country codes: {', '.join(STORES)}"
            )
        if store not in stores:
            stores.append(store)
    return tuple(stores)


def check_tenant_url(text: str) -> str:
    """The tenant-URL rules of ``[qad] tenant_url`` (https; http only on loopback)."""
    return validate_tenant_url(text, what="QAD tenant URL")


def check_code(text: str, what: str) -> str:
    value = text.strip()
    if not _CODE.match(value):
        raise ConfigError(
            f"{what} {value!r} should be a QAD code such as 10USACO "
            "(letters, digits, '.', '_', '-'; at most 40)"
        )
    return value


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def render_config(a: InitAnswers) -> str:
    """The commented config.toml text for ``a`` (loads with ``load_config``)."""
    ids = ", ".join(_q(s.marketplace_id) for s in a.stores)
    names = ", ".join(f"{s.country} = {s.marketplace_id}" for s in a.stores)
    lines = [
        "# ml-connector configuration, written by `ml-connector init`.",
        "# Every key not shown has a safe default; the project's config.toml lists them all with",
        '# their allowed ranges, and README "Configuration reference" explains them. Unknown',
        "# keys are errors. ML_CONNECTOR_<SECTION>_<KEY> environment variables override keys.",
        "# No secrets here: `ml-connector creds set` keeps them in the encrypted vault.",
        "",
        "[engine]",
        "# The append-only event log (SQLite); a relative path is next to this file.",
        f"db = {_q(a.db)}",
        "",
        "[amazon]",
        "# Vault record with the LWA app (client id/secret) and a refresh token per region.",
        'credential = "default"',
        f"# Your stores: {names}.",
        f"marketplaces = [{ids}]",
        f"region = {_q(region_of(a.stores[0].marketplace_id))}"
        f"  # informational; the regions called: {', '.join(a.regions)}",
        '# endpoint = ""  (the production SP-API host of each region) and',
        '# lwa_url = "https://api.amazon.com/auth/o2/token" are the defaults.',
        "# Listings that follow QAD item changes (price by default, [listings] fields): none",
        '# until you choose, e.g. listing_marketplaces = ["ATVPDKIKX0DER"].',
        "listing_marketplaces = []",
        '# seller_id = ""  (your merchant token; needed for listing writes)',
        "",
        "[qad]",
        "# Vault record with the QAD login (`ml-connector creds set qad`).",
        'credential = "default"',
        "# The FULL tenant URL including its context root (https; http only for localhost).",
        f"tenant_url = {_q(a.tenant_url)}",
        f"domain = {_q(a.domain)}",
        f"entity = {_q(a.entity)}",
        "# QAD names that differ on your tenant go in [qad.paths] / [qad.browses] / [qad.fields]:",
        "# `ml-connector qad discover --config <this file>` checks them and prints the tables.",
        "",
        "[mapping.sku]",
        "# Amazon SKU -> QAD item. An order with an SKU not listed here is parked with that",
        "# reason (`ml-connector status` lists them) and posts once you add it. For example:",
        '# "YOUR-AMAZON-SKU" = "QAD-ITEM"',
        "",
        "# Each store -> the QAD customer its orders and settlements post to (create it in QAD or",
        "# change the code), currency, order site. Stock alignment is off until you name the QAD",
        "# site of the store's FBA stock (fba_site) or merchant stock (warehouse_site).",
    ]
    for s in a.stores:
        lines += [
            "",
            f"[mapping.marketplaces.{s.marketplace_id}]  # {s.domain}",
            f"customer = {_q('AMZ-' + s.country)}",
            f"currency = {_q(s.currency)}",
            f"name = {_q(s.settlement_name)}  # as settlement files name the store",
            'site = "10-100"',
            'fba_site = ""',
            'warehouse_site = ""',
        ]
    lines += [
        "",
        "# The status page (`ml-connector run` serves it; loopback needs no token):",
        "# [web]",
        '# bind = "127.0.0.1:8700"',
        "",
    ]
    return "\n".join(lines)


def write_new_config(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` after ``load_config`` accepted it; never over an existing file
    unless ``force``. Written beside the target first, then renamed (no half-written file)."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; --force replaces it")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path} exists and is not a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=".init-", suffix=".toml", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        load_config(tmp, env={})  # the file as the engine will read it (paths anchored here)
        os.chmod(tmp, 0o640)  # no secrets in it; readable by the service group
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def next_steps(a: InitAnswers, path: Path) -> list[str]:
    """What to run after ``init``, in order."""
    cfg = str(path)
    steps = [
        f"ml-connector creds set amazon --region {r}   # LWA client id, secret, refresh token"
        for r in a.regions
    ]
    steps += [
        f"ml-connector creds set qad --tenant-url {a.tenant_url} --domain {a.domain} "
        f"--entity {a.entity}",
        f"ml-connector qad discover --config {cfg}   # checks the tenant's names, reads only",
        f"ml-connector ping --config {cfg}           # both logins, roles per flow",
        f"ml-connector sync --config {cfg} --once    # a first pass; then `run` as a service",
    ]
    return steps
