"""Order search for both Orders API versions: time-window rules, marketplaces and page size."""

from __future__ import annotations

from engine.sim.amazon.common import BadInput, Caller, two_minute_rule
from engine.sim.amazon.data import OrderBook
from engine.sim.amazon.world import World

__all__ = ["checked_marketplaces", "find_order_ids", "page_size"]


def find_order_ids(
    world: World,
    caller: Caller,
    *,
    created: tuple[float | None, float | None],
    updated: tuple[float | None, float | None],
    marketplaces: list[str],
    statuses: set[str],
    channels: set[str],
    names: tuple[str, str, str, str],
) -> tuple[list[str], str, float]:
    """Validate the window rules and return (order ids, echo field, echo value)."""
    now = world.now()
    (ca, cb), (ua, ub) = created, updated
    n_ca, n_cb, n_ua, n_ub = names
    if (ca is None) == (ua is None):
        raise BadInput(details=f"Exactly one of {n_ca} and {n_ua} must be specified.")
    if (cb is not None and ca is None) or (ub is not None and ua is None):
        raise BadInput(details=f"{n_cb} requires {n_ca}; {n_ub} requires {n_ua}.")
    two_minute_rule(cb, now, n_cb)
    two_minute_rule(ub, now, n_ub)
    after = ca if ca is not None else ua
    assert after is not None
    if after > now - 120:
        raise BadInput(
            details=f"{n_ca if ca is not None else n_ua} must be no later than 2 "
            "minutes before the request time."
        )
    before = (cb if ca is not None else ub) or now - 120
    if before <= after:
        raise BadInput(details="The Before time must be later than the After time.")
    seller = world.configs[caller.seller].name
    lo = after if ca is not None else after - OrderBook.MAX_LAG
    hits: list[tuple[float, str]] = []
    for o in world.book.purchased_between(lo, before):
        if o.seller != seller or o.marketplace.marketplace_id not in marketplaces:
            continue
        if channels and o.channel not in channels:
            continue
        if statuses and o.status(now) not in statuses:
            continue
        if ca is not None:
            hits.append((o.purchased, o.order_id))
        else:
            lu = o.last_update(before)
            if after <= lu < before:
                hits.append((lu, o.order_id))
    hits.sort()
    return (
        [h[1] for h in hits],
        ("CreatedBefore" if ca is not None else "LastUpdatedBefore"),
        before,
    )


def checked_marketplaces(world: World, caller: Caller, ids: list[str], required: bool) -> list[str]:
    allowed = world.configs[caller.seller].marketplace_ids(caller.region)
    if not ids:
        if required:
            raise BadInput(details="MarketplaceIds is required.")
        return list(allowed)
    if len(ids) > 50:
        raise BadInput(details="At most 50 marketplace IDs.")
    for mid in ids:
        if mid not in allowed:
            raise BadInput(f"Invalid MarketplaceId: {mid} is not valid for this region or seller.")
    return ids


def page_size(raw: str | None, name: str) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise BadInput(details=f"{name} must be between 1 and 100.")
    return int(raw)
