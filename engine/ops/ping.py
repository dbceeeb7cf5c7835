"""What ``ml-connector ping`` does: check every configured account against Amazon and QAD.

``run_checks`` returns one ``Check`` per step (LWA token, marketplaces, QAD login, paths, browses).
The QAD probes are the start-up probe's rules (``engine.ops.qad_probes``, shared with
``qad discover``): every fix names a key of the tenant profile that exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import aiohttp

from engine.adapters.amazon.client import AmazonClient
from engine.adapters.amazon.regions import MARKETPLACE_REGION
from engine.adapters.amazon.retry import Backoff
from engine.adapters.qad.settings import QadSettings
from engine.config import Config
from engine.errors import (
    AuthError,
    ConfigError,
    CredentialError,
    EngineError,
    RateLimited,
    Rejected,
    RemoteError,
    RetriableRemoteError,
)
from engine.ops.credentials import amazon_account, profile_settings
from engine.ops.ping_roles import probe_roles
from engine.ops.qad_probes import (
    LOOKUP_COLUMN,
    BrowseProbe,
    PathProbe,
    login,
    probe_browse,
    probe_path,
)
from engine.security.redact import redact
from engine.security.rotation import secret_expiry
from engine.security.vault import AmazonCredential, QadCredential, Vault

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the ping table."""

    system: str  # "amazon" | "qad"
    target: str  # "shop NA" / "default https://tenant/clouderp"
    step: str  # "LWA token", "getMarketplaceParticipations", "login", "path items"
    status: str  # "ok" | "warn" | "FAILED"
    detail: str  # what was found / why it failed
    fix: str = ""


async def run_checks(
    cfg: Config,
    vault: Vault,
    *,
    all_credentials: bool = False,
    only: str | None = None,
    timeout_s: float = 20.0,
    today: date | None = None,
) -> list[Check]:
    """All checks, in a stable order. Raises CredentialError if a configured record is missing."""
    amazon = [] if only == "qad" else _pick(vault, "amazon", cfg.amazon.credential, all_credentials)
    qad = [] if only == "amazon" else _pick(vault, "qad", cfg.qad.credential, all_credentials)
    checks: list[Check] = []
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for name in amazon:
            cred = vault.get_amazon(name)
            checks.extend(_expiry(cred, today or datetime.now(UTC).date()))
            checks.extend(_seller_id(cfg, cred))
            checks.extend(_missing_regions(cfg, cred))
            for region in cred.regions:
                checks.extend(await _ping_amazon(session, cfg, cred, region, timeout_s))
        for name in qad:
            checks.extend(await _ping_qad(session, cfg, vault.get_qad(name), timeout_s))
    return checks


def _pick(vault: Vault, kind: str, configured: str, every: bool) -> list[str]:
    names = [n for k, n in vault.names() if k == kind]
    if every:
        return names
    if configured not in names:
        raise CredentialError(
            f"no {kind} credential named {configured!r} in {vault.path} (config {kind}.credential)"
            f": run `ml-connector creds set {kind} --name {configured}`"
        )
    return [configured]


def _expiry(cred: AmazonCredential, today: date) -> list[Check]:
    notice = secret_expiry(cred, today)
    if notice is None:
        return []
    detail = f"LWA client secret expires {notice.expires.isoformat()} ({notice.days_left} days)"
    status = "FAILED" if notice.failed else "warn"
    return [Check("amazon", cred.name, "client secret expiry", status, detail, notice.fix)]


def _seller_id(cfg: Config, cred: AmazonCredential) -> list[Check]:
    """The Listings flow (amazon.listing_marketplaces) needs a seller id: config or vault."""
    if not cfg.amazon.listing_marketplaces:
        return []
    step = "seller id (listings)"
    if cfg.amazon.seller_id:
        return [Check("amazon", cred.name, step, "ok", f"{cfg.amazon.seller_id} (config)")]
    if cred.seller_id:
        return [Check("amazon", cred.name, step, "ok", f"{cred.seller_id} (vault)")]
    return [
        Check(
            "amazon",
            cred.name,
            step,
            "FAILED",
            "no seller id in config or vault: listing patches would park",
            f"set [amazon] seller_id or `ml-connector creds set amazon --name {cred.name} "
            "--seller-id <merchant token>`",
        )
    ]


def _missing_regions(cfg: Config, cred: AmazonCredential) -> list[Check]:
    """Every region of ``amazon.marketplaces`` needs its refresh token, or sync refuses to open."""
    wanted: dict[str, list[str]] = {}
    for mp in cfg.amazon.marketplaces:
        wanted.setdefault(MARKETPLACE_REGION.get(mp, "?"), []).append(mp)
    return [
        Check(
            "amazon",
            f"{cred.name} {region}",
            "refresh token",
            "FAILED",
            f"no refresh token for {region} (amazon.marketplaces {', '.join(mps)}): "
            "sync and run refuse to start",
            f"`ml-connector creds set amazon --name {cred.name} --region {region}` (empty "
            "secret keeps the stored one), or drop those marketplaces from the config",
        )
        for region, mps in sorted(wanted.items())
        if region not in cred.regions
    ]


async def _ping_amazon(
    session: aiohttp.ClientSession,
    cfg: Config,
    cred: AmazonCredential,
    region: str,
    timeout_s: float,
) -> list[Check]:
    target = f"{cred.name} {region}"
    endpoint = cfg.amazon.endpoint.replace("{region}", region.lower()) or None
    client = AmazonClient(
        session,
        amazon_account(cfg, cred),
        region,
        endpoint=endpoint,
        lwa_url=cfg.amazon.lwa_url,
        backoff=Backoff(base=0.2, cap=2.0, max_tries=2),  # ping: fail fast, no long retries
        timeout_s=timeout_s,
    )
    out: list[Check] = []
    try:
        await client.auth.token()
    except (EngineError, aiohttp.ClientError, TimeoutError) as exc:
        out.append(_failed("amazon", target, "LWA token", exc, cred=cred, region=region))
        return out
    used_next = (
        cred.next_client_secret is not None
        and getattr(client.auth, "_secret", None) == cred.next_client_secret
    )
    out.append(
        Check(
            "amazon",
            target,
            "LWA token",
            "warn" if used_next else "ok",
            "access token issued" + (" with the NEXT client secret" if used_next else ""),
            "the current client secret was refused: make the next secret the current one "
            f"(`ml-connector creds set amazon --name {cred.name}`)"
            if used_next
            else "",
        )
    )
    try:
        resp = await client.call(
            "getMarketplaceParticipations", "GET", "/sellers/v1/marketplaceParticipations"
        )
    except (EngineError, aiohttp.ClientError, TimeoutError) as exc:
        out.append(
            _failed("amazon", target, "getMarketplaceParticipations", exc, cred=cred, region=region)
        )
        return out
    have = _marketplaces(resp.body)
    wanted = [m for m in cfg.amazon.marketplaces if MARKETPLACE_REGION.get(m) == region]
    missing = [m for m in wanted if m not in have]
    # [D sellers.json] participation.isParticipating=false: registered there, not selling
    idle = [m for m in wanted if have.get(m) is False]
    detail = f"{len(have)} marketplaces: {', '.join(sorted(have)) or '-'}"
    if idle:
        out.append(
            Check(
                "amazon",
                target,
                "marketplace participation",
                "FAILED",
                f"isParticipating=false for configured {', '.join(idle)}",
                "the seller does not sell there now (Seller Central: listings/account status); "
                "remove them from amazon.marketplaces until it does",
            )
        )
    if missing:
        out.append(
            Check(
                "amazon",
                target,
                "getMarketplaceParticipations",
                "FAILED",
                f"{detail}; not participating in configured {', '.join(missing)}",
                "remove them from amazon.marketplaces or authorise the seller there",
            )
        )
    else:
        out.append(Check("amazon", target, "getMarketplaceParticipations", "ok", detail))
    for p in await probe_roles(client, cfg, region):  # one row per flow: its role
        out.append(Check("amazon", target, p.step, p.status, p.detail, p.fix))
    return out


def _marketplaces(body: Any) -> dict[str, bool]:
    """Marketplace id -> participation.isParticipating (True when Amazon leaves it out)."""
    rows = body.get("payload", []) if isinstance(body, dict) else []
    found: dict[str, bool] = {}
    for row in rows if isinstance(rows, list) else []:
        mp = row.get("marketplace") if isinstance(row, dict) else None
        if isinstance(mp, dict) and isinstance(mp.get("id"), str):
            part = row.get("participation")
            found[mp["id"]] = not (isinstance(part, dict) and part.get("isParticipating") is False)
    return found


async def _ping_qad(
    session: aiohttp.ClientSession, cfg: Config, cred: QadCredential, timeout_s: float
) -> list[Check]:
    url = cfg.qad.tenant_url or cred.tenant_url
    target = f"{cred.name} {url}"
    settings = QadSettings(
        tenant_url=url,
        username=cred.username,
        password=cred.password,
        domain=cred.domain or cfg.qad.domain,
        entity=cred.entity or cfg.qad.entity,
        request_timeout_s=timeout_s,
        **profile_settings(cfg),
    )
    try:
        transport = await login(session, settings)
    except (EngineError, aiohttp.ClientError, TimeoutError) as exc:
        return [_failed("qad", target, "login", exc, qad_name=cred.name)]
    out = [Check("qad", target, "login", "ok", f"logged in as {cred.username}")]
    paths, dom = settings.paths, settings.domain

    async def probe(step: str, key: str, path: str) -> Check:
        try:
            found = await probe_path(transport, key, path, dom, settings.fields.domain)
            return _path_row(target, step, found)
        except (EngineError, aiohttp.ClientError, TimeoutError) as exc:
            return _failed("qad", target, step, exc, qad_name=cred.name)

    present: set[str] = set()
    for key, path in paths.entity_paths().items():
        out.append(await probe(f"path {key}", key, path))
        if out[-1].status == "ok":
            present.add(key)
    for owner in ("unplanned_receives", "unplanned_issues"):
        if owner in present:  # under a missing entity path it would only repeat that row
            path = f"{getattr(paths, owner)}/{paths.unplanned_validate_step}"
            step = f"path unplanned_validate_step ({owner})"
            out.append(await probe(step, "unplanned_validate_step", path))
    for key in settings.browses.browse_ids():
        try:
            browse = await probe_browse(transport, paths.browses, settings.browses, key)
        except (EngineError, aiohttp.ClientError, TimeoutError) as exc:
            out.append(_failed("qad", target, f"browse {key}", exc, qad_name=cred.name))
            continue
        out.append(_browse_row(target, browse))
    return out


_DISCOVER = "`ml-connector qad discover` finds the tenant's names"
_RIGHTS = "the user lacks rights for this domain/entity: ask the QAD admin"


def _path_row(target: str, step: str, probe: PathProbe) -> Check:
    if probe.present:  # 400 = exists, key missing; 405 = exists, write-only
        return Check("qad", target, step, "ok", f"{probe.path} (HTTP {probe.status})")
    fix = (
        _RIGHTS
        if probe.status in (401, 403)
        else f"set qad.paths.{probe.key} to the tenant's real path ({_DISCOVER})"
    )
    return Check("qad", target, step, "FAILED", f"{probe.probed} answered {probe.answer}", fix)


def _browse_row(target: str, probe: BrowseProbe) -> Check:
    step, key, bid = f"browse {probe.key}", probe.key, probe.browse_id
    if not probe.answered:
        fix = _RIGHTS if probe.status in (401, 403) else f"set qad.browses.{key} ({_DISCOVER})"
        detail = f"{bid} answered {probe.answer}"
        return Check("qad", target, step, "FAILED", detail, fix)
    if probe.row is None:
        empty = f"{bid} answered no rows"
        if key not in LOOKUP_COLUMN:
            detail = f"{empty}: wrong browse id, or the tenant has no {key.replace('_', ' ')} data"
            return Check("qad", target, step, "FAILED", detail, f"check qad.browses.{key}")
        detail = f"{empty}: look-up unproven until the first create proves it"
        return Check("qad", target, step, "warn", detail, f"check qad.browses.{key} ({_DISCOVER})")
    if probe.missing_columns:
        keys = ", ".join(f"qad.browses.{k}" for k in probe.missing_columns)
        detail = (
            f"{bid} rows lack {', '.join(probe.missing_columns.values())} "
            f"(columns: {', '.join(probe.columns)})"
        )
        return Check("qad", target, step, "FAILED", detail, f"set {keys} to the row's column keys")
    if probe.lookup == "failed":
        column_key = LOOKUP_COLUMN[key]
        detail = f"{bid}: filtering by the row's own value found nothing ({probe.lookup_probed})"
        return Check("qad", target, step, "FAILED", detail, f"check qad.browses.{column_key}")
    proven = "; look-up proven" if probe.lookup == "proven" else ""
    return Check("qad", target, step, "ok", f"{bid}: 1 row, columns ok{proven}")


def _failed(
    system: str,
    target: str,
    step: str,
    exc: BaseException,
    *,
    cred: AmazonCredential | None = None,
    region: str = "",
    qad_name: str = "",
) -> Check:
    reason = redact(str(exc) or type(exc).__name__).splitlines()[0]
    if isinstance(exc, ConfigError | CredentialError):
        fix = "fix the config / vault entry named in the reason"
    elif isinstance(exc, AuthError) and system == "amazon" and getattr(exc, "system", "") == "lwa":
        name = cred.name if cred else "NAME"
        fix = (
            "check the LWA client id/secret and re-authorise the seller; store a fresh token with "
            f"`ml-connector creds set amazon --name {name} --region {region}`"
        )
    elif isinstance(exc, AuthError) and system == "amazon":
        name = cred.name if cred else "NAME"
        fix = (
            f"the token is not valid for {region} or the seller revoked the app: re-authorise "
            f"there and run `ml-connector creds set amazon --name {name} --region {region}`"
        )
    elif isinstance(exc, AuthError):
        fix = f"check the QAD username/password: `ml-connector creds set qad --name {qad_name}`"
    elif isinstance(exc, RateLimited):
        fix = "throttled: try again in a minute"
    elif isinstance(exc, Rejected):
        fix = "the remote refused the request: see the reason"
    elif isinstance(exc, RetriableRemoteError | aiohttp.ClientError | TimeoutError):
        fix = "cannot reach the service: check the URL/endpoint, network and proxy"
    elif isinstance(exc, RemoteError):
        fix = "see the reason"
    else:
        fix = "see the reason"
    return Check(system, target, step, "FAILED", reason, fix)
