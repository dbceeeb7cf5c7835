"""``ping``'s role preflight: one read-only call per flow the config uses, per region.

Each probe is the operation the flow itself calls, as small as Amazon allows (one result): the
orders search of ``[amazon] orders_api``, the settlement report list, FBA summaries (only with
an ``fba_site`` mapped), the merchant listings report list (only with a ``warehouse_site``), a
listing read of one mapped SKU (only with ``listing_marketplaces``) and the PII path in use
(only with ``[orders] ship_to``: an RDT for v0, ``getOrder includedData=RECIPIENT`` for v2026).
A 403 means the app lacks the flow's role (``adapters.amazon.roles``); any other answer,
including a 400/404 for the probe's own parameters, means Amazon let the call through (roles
are checked before the request is validated [I]). Calls go through the client's usage-plan
buckets, so the probes respect the documented rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp

from engine.adapters.amazon.client import AmazonClient, iso_z
from engine.adapters.amazon.regions import MARKETPLACE_REGION
from engine.adapters.amazon.roles import FLOW_ROLES, is_role_refusal, role_fix
from engine.config import Config
from engine.errors import EngineError, RemoteError
from engine.security.redact import redact

__all__ = ["RoleProbe", "probe_roles"]

SETTLEMENT = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2"
LISTINGS_REPORT = "GET_MERCHANT_LISTINGS_ALL_DATA"


@dataclass(frozen=True, slots=True)
class RoleProbe:
    step: str  # "role orders (searchOrders)"
    status: str  # ok | warn | FAILED
    detail: str
    fix: str = ""


async def probe_roles(client: AmazonClient, cfg: Config, region: str) -> list[RoleProbe]:
    """The role rows of one region (none when no configured marketplace is in it)."""
    mps = [m for m in cfg.amazon.marketplaces if MARKETPLACE_REGION.get(m) == region]
    if not mps:
        return []
    out: list[RoleProbe] = []
    v0 = cfg.amazon.orders_api == "v0"
    since = iso_z(client.clock() - timedelta(days=1))
    order_id = ""
    if v0:
        params = [("MarketplaceIds", ",".join(mps)), ("CreatedAfter", since)]
        probe = await _call(client, "orders", "getOrders", "/orders/v0/orders", params)
        if probe.body is not None:
            orders = (probe.body.get("payload") or {}).get("Orders") or []
            order_id = str(orders[0].get("AmazonOrderId", "")) if orders else ""
    else:
        params = [("marketplaceIds", ",".join(mps)), ("createdAfter", since)]
        params.append(("maxResultsPerPage", "1"))
        probe = await _call(client, "orders", "searchOrders", "/orders/2026-01-01/orders", params)
        if probe.body is not None:
            orders = probe.body.get("orders") or []
            order_id = str(orders[0].get("orderId", "")) if orders else ""
    out.append(probe.row)
    reports = "/reports/2021-06-30/reports"
    settle = [("reportTypes", SETTLEMENT), ("pageSize", "1")]
    out.append((await _call(client, "settlements", "getReports", reports, settle)).row)
    maps = cfg.mapping.marketplaces
    fba = [m for m in mps if (mm := maps.get(m)) is not None and mm.fba_site]
    if fba:
        q = [("granularityType", "Marketplace"), ("granularityId", fba[0])]
        q.append(("marketplaceIds", fba[0]))
        path = "/fba/inventory/v1/summaries"
        out.append((await _call(client, "fba", "getInventorySummaries", path, q)).row)
    if any((mm := maps.get(m)) is not None and mm.warehouse_site for m in mps):
        q = [("reportTypes", LISTINGS_REPORT), ("pageSize", "1")]
        out.append((await _call(client, "mfn", "getReports", reports, q)).row)
    listing_mps = [m for m in cfg.amazon.listing_marketplaces if m in mps]
    seller = cfg.amazon.seller_id or client.account.seller_id
    if listing_mps and cfg.mapping.sku and seller:
        sku = sorted(cfg.mapping.sku)[0]
        path = f"/listings/2021-08-01/items/{quote(seller, safe='')}/{quote(sku, safe='')}"
        q = [("marketplaceIds", listing_mps[0]), ("includedData", "summaries")]
        out.append((await _call(client, "listings", "getListingsItem", path, q)).row)
    if cfg.orders.ship_to:
        out.append(await _pii(client, v0, order_id))
    return out


@dataclass(slots=True)
class _Probe:
    row: RoleProbe
    body: dict[str, Any] | None = None


async def _call(
    client: AmazonClient,
    flow: str,
    operation: str,
    path: str,
    params: list[tuple[str, str]],
) -> _Probe:
    role = FLOW_ROLES[flow]
    step = f"role {flow} ({operation})"
    try:
        resp = await client.call(operation, "GET", path, params=params)
    except RemoteError as exc:
        return _Probe(_refused(step, role.flow, exc))
    except (EngineError, aiohttp.ClientError, TimeoutError) as exc:
        return _Probe(RoleProbe(step, "FAILED", _text(exc), "cannot probe: see the reason"))
    body = resp.body if isinstance(resp.body, dict) else None
    return _Probe(RoleProbe(step, "ok", f"authorised ('{role.role}' or equivalent)"), body)


def _refused(step: str, flow: str, exc: RemoteError) -> RoleProbe:
    role = FLOW_ROLES[flow]
    if is_role_refusal(exc):
        detail = f"Amazon refused: {_text(exc)}; missing role '{role.role}'"
        return RoleProbe(step, "FAILED", detail, role_fix(role))
    if exc.status in (400, 404):  # authorised; the probe's own parameters were not accepted
        return RoleProbe(step, "ok", f"authorised (answered {exc.status}: {_text(exc)[:120]})")
    return RoleProbe(step, "FAILED", _text(exc), "cannot probe: see the reason")


async def _pii(client: AmazonClient, v0: bool, order_id: str) -> RoleProbe:
    role = FLOW_ROLES["pii"]
    if v0:
        step = "role pii (createRestrictedDataToken)"
        try:
            await client.restricted_token(
                "/orders/v0/orders/{orderId}/address", ["shippingAddress"]
            )
        except RemoteError as exc:
            if exc.status in (400, 403):  # Amazon: 400 "does not have access ..." [C #1723]
                detail = f"Amazon refused: {_text(exc)}; missing role '{role.role}'"
                return RoleProbe(step, "FAILED", detail, role_fix(role) + _DEGRADE)
            return _refused(step, "pii", exc)
        except (EngineError, aiohttp.ClientError, TimeoutError) as exc:
            return RoleProbe(step, "FAILED", _text(exc), "cannot probe: see the reason")
        return RoleProbe(step, "ok", f"restricted data token issued ('{role.role}')")
    step = "role pii (getOrder includedData=RECIPIENT)"
    if not order_id:
        return RoleProbe(step, "warn", "no order of the last day to probe the ship-to with")
    path = f"/orders/2026-01-01/orders/{quote(order_id, safe='')}"
    probe = await _call(client, "pii", "getOrder2026", path, [("includedData", "RECIPIENT")])
    if probe.row.status != "ok" or probe.body is None:
        return RoleProbe(step, probe.row.status, probe.row.detail, probe.row.fix)
    order = probe.body.get("order")
    if isinstance(order, dict) and order.get("recipient"):
        return RoleProbe(step, "ok", f"recipient returned ('{role.role}')")
    # Amazon leaves the recipient out without the role [D "Access Orders PII"]; it also has
    # none for FBA or shipped orders, so this is a warning, not a failure.
    detail = "no recipient returned for the probed order (role missing, or not an MFN order)"
    return RoleProbe(step, "warn", detail, role_fix(role) + _DEGRADE)


_DEGRADE = "; until then orders sync without a ship-to address"


def _text(exc: BaseException) -> str:
    return redact(" ".join(str(exc).split()) or type(exc).__name__)[:300]
