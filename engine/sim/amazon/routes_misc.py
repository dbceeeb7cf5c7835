"""LWA token endpoint, Tokens (RDT), Sellers and Finances (event groups)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from engine.sim.amazon.common import (
    CALLER_KEY,
    BadInput,
    iso,
    json_response,
    parse_time,
    two_minute_rule,
)
from engine.sim.amazon.sellers import MARKETPLACE_INFO, marketplace
from engine.sim.amazon.world import TOKEN_TTL, WORLD_KEY, AccessGrant, World

__all__ = ["LWA_OPERATION", "MISC_ROUTES", "lwa_token"]

LWA_OPERATION = "lwa"  # fault rules with operation="lwa" hit the token endpoint

_PII = {"buyerInfo", "shippingAddress", "buyerTaxInformation"}


async def _lwa_fault(request: web.Request, world: World) -> web.Response | None:
    """Faults of operation ``"lwa"`` only: latency, drop, status (LWA outage or throttling)."""
    faults = world.faults
    if (rule := faults.take(("latency",), LWA_OPERATION, None, named_only=True)) is not None:
        await asyncio.sleep(rule.delay)
    if faults.take(("drop",), LWA_OPERATION, None, named_only=True) is not None:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    if (rule := faults.take(("status",), LWA_OPERATION, None, named_only=True)) is not None:
        code = "server_error" if rule.status >= 500 else "slow_down"
        return _lwa_error(rule.status, code, "The authorization server is temporarily unavailable")
    return None


def _lwa_error(status: int, code: str, text: str) -> web.Response:
    body = {"error": code, "error_description": text}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def lwa_token(request: web.Request) -> web.Response:
    world: World = request.app[WORLD_KEY]
    if (fault := await _lwa_fault(request, world)) is not None:
        return fault
    raw = await request.read()
    if request.content_type == "application/json":
        try:
            form = {str(k): str(v) for k, v in orjson.loads(raw).items()}
        except (orjson.JSONDecodeError, AttributeError):
            return _lwa_error(400, "invalid_request", "Malformed request body")
    else:
        form = dict(parse_qsl(raw.decode("utf-8", "replace")))
    if form.get("grant_type") == "client_credentials":  # grantless (notifications_api.py)
        from engine.sim.amazon.notifications_api import grantless_token

        return grantless_token(world, form)
    if form.get("grant_type") != "refresh_token":
        return _lwa_error(400, "unsupported_grant_type", "The grant type is not supported")
    app = world.creds[0]
    if form.get("client_id") != app.client_id or form.get("client_secret") != app.client_secret:
        return _lwa_error(401, "invalid_client", "Client authentication failed")
    found = world.seller_by_refresh_token(form.get("refresh_token", ""))
    if found is None:
        return _lwa_error(
            400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
        )
    seller, region = found
    token = world.mint("Atza|", AccessGrant(seller, region, world.now() + TOKEN_TTL))
    body = {
        "access_token": token,
        "token_type": "bearer",
        # Simulated seconds, like every duration the simulator announces: with --time-scale
        # a client must follow GET /__sim/clock (ml-connector: [amazon] clock = "simulator");
        # at the default scale 1 they are real seconds, as at Amazon.
        "expires_in": int(TOKEN_TTL),
        "refresh_token": form["refresh_token"],
    }
    return web.Response(
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def create_rdt(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    try:
        body = orjson.loads(await request.read())
        resources = body["restrictedResources"]
        assert isinstance(resources, list) and 1 <= len(resources) <= 50
        parsed = []
        for r in resources:
            assert r["method"] in ("GET", "PUT", "POST", "DELETE") and isinstance(r["path"], str)
            parsed.append((r["method"], r["path"], tuple(r.get("dataElements") or ())))
    except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
        raise BadInput(code="InvalidRequest", details="restrictedResources is invalid.") from None
    elements = sorted({e for _, _, els in parsed for e in els})
    unknown = [e for e in elements if e not in _PII]
    if unknown:
        raise BadInput(f"Invalid dataElements: {unknown}", code="InvalidRequest")
    if not world.roles.pii(caller.seller):  # the restricted role (roles.py)
        wanted = ", ".join(elements) or "restricted resources"
        raise BadInput(
            f"Application does not have access to one or more requested data elements: [{wanted}]",
            code="InvalidRequest",
        )
    grant = AccessGrant(caller.seller, caller.region, world.now() + TOKEN_TTL, tuple(parsed))
    token = world.mint("Atz.sprdt|", grant)
    return json_response({"restrictedDataToken": token, "expiresIn": int(TOKEN_TTL)})


async def marketplace_participations(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    out = []
    for mid in world.configs[caller.seller].marketplace_ids(caller.region):
        mp = marketplace(mid)
        assert mp is not None
        lang, domain = MARKETPLACE_INFO[mid]
        out.append(
            {
                "marketplace": {
                    "id": mid,
                    "name": mp.name,
                    "countryCode": mp.country,
                    "defaultCurrencyCode": mp.currency,
                    "defaultLanguageCode": lang,
                    "domainName": domain,
                },
                # isParticipating=false is configurable (SellerConfig.not_participating) [D]
                "participation": {
                    "isParticipating": mid not in world.not_participating[caller.seller],
                    "hasSuspendedListings": False,
                },
                "storeName": f"{world.configs[caller.seller].name} industrial supply",
            }
        )
    return json_response({"payload": out})


def _cur(value: Any, currency: str) -> dict[str, Any]:
    return {"CurrencyCode": currency, "CurrencyAmount": float(value)}  # Finances: a number


async def financial_event_groups(request: web.Request) -> web.Response:
    world: World = request.config_dict[WORLD_KEY]
    caller = request[CALLER_KEY]
    q = request.query
    now = world.now()
    token = q.get("NextToken")
    size_raw = q.get("MaxResultsPerPage", "10")
    if not size_raw.isdigit() or not 1 <= int(size_raw) <= 100:
        raise BadInput(details="MaxResultsPerPage must be between 1 and 100.")
    size = int(size_raw)
    if token:
        groups, offset = world.paging.resolve(
            token, now, "Token is not valid, token duration is 25 minutes."
        )
    else:
        after = parse_time(
            q.get("FinancialEventGroupStartedAfter"), "FinancialEventGroupStartedAfter"
        )
        before = parse_time(
            q.get("FinancialEventGroupStartedBefore"), "FinancialEventGroupStartedBefore"
        )
        two_minute_rule(after, now, "FinancialEventGroupStartedAfter")
        two_minute_rule(before, now, "FinancialEventGroupStartedBefore")
        after = after if after is not None else now - 180 * 86400
        before = before if before is not None else now - 120
        groups = []
        cfg = world.configs[caller.seller]
        for cur in sorted({m.currency for m in world.book_markets(caller.seller, caller.region)}):
            for st in world.settlements.closed(cfg.name, caller.region, cur, now):
                if after <= st.start < before:
                    groups.append(
                        {
                            "FinancialEventGroupId": f"{st.settlement_id}-FEG",
                            "ProcessingStatus": "Closed",
                            "FundTransferStatus": "Succeeded",
                            "OriginalTotal": _cur(st.total, cur),
                            "ConvertedTotal": _cur(st.total, cur),
                            "FundTransferDate": iso(st.deposit),
                            "TraceId": st.settlement_id,
                            "AccountTail": "123",
                            "BeginningBalance": _cur(0, cur),
                            "FinancialEventGroupStart": iso(st.start),
                            "FinancialEventGroupEnd": iso(st.end),
                        }
                    )
            openst = world.settlements.open_balance(cfg.name, caller.region, cur, now)
            if after <= openst.start < before and openst.end + 6 * 3600 > now:
                groups.append(
                    {
                        "FinancialEventGroupId": f"{openst.settlement_id}-FEG",
                        "ProcessingStatus": "Open",
                        "OriginalTotal": _cur(openst.total, cur),
                        "BeginningBalance": _cur(0, cur),
                        "FinancialEventGroupStart": iso(openst.start),
                    }
                )
        offset = 0
    payload: dict[str, Any] = {"FinancialEventGroupList": groups[offset : offset + size]}
    if offset + size < len(groups):
        payload["NextToken"] = world.paging.issue((groups, offset + size), now + 25 * 60)
    return json_response({"payload": payload})


MISC_ROUTES: list[tuple[str, str, Any, str]] = [
    ("POST", "/tokens/2021-03-01/restrictedDataToken", create_rdt, "createRestrictedDataToken"),
    (
        "GET",
        "/sellers/v1/marketplaceParticipations",
        marketplace_participations,
        "getMarketplaceParticipations",
    ),
    (
        "GET",
        "/finances/v0/financialEventGroups",
        financial_event_groups,
        "listFinancialEventGroups",
    ),
]
