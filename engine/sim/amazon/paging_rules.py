"""Paging tokens bound to the filters of the listing they page, the way each model says.

Evidence per operation:
- getReports: ``nextToken`` must be the only parameter [D reports_2021-06-30.json]; enforced in
  routes_reports.py.
- getOrders (v0): "NextToken doesn't affect any filters that you include in your request; it
  only impacts the pagination" [D ordersV0.json], and MarketplaceIds is a required parameter
  [D]: the filters come with every page. A token presented without them is refused [D: required
  parameter]; with *different* filters it is refused too [I: Amazon's behaviour and text for a
  mismatch are not documented].
- getInventorySummaries: granularityType, granularityId and marketplaceIds are required
  parameters [D fbaInventory.json], and the model asks for startDateTime together with nextToken
  [D]; a mismatch is refused [I].
- searchOrders (v2026): whether the filters must be repeated is [U]; a token alone is accepted
  by default (``v2026_token_alone``), different filters are refused [I].
Page size and ``includedData`` are not filters (they do not change which records are listed).
``AmazonSimulator(paging_filters_must_match=False)`` turns the mismatch rule off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from engine.sim.amazon.common import BadInput

__all__ = ["Filters", "PagingRules", "request_filters"]

Filters = tuple[tuple[str, tuple[str, ...]], ...]
NOT_FILTERS = frozenset({"MaxResultsPerPage", "maxResultsPerPage", "pageSize", "includedData"})


def request_filters(request: web.Request, token_param: str) -> Filters:
    """The request's filter parameters, normalised (list values split on commas and sorted)."""
    out: dict[str, tuple[str, ...]] = {}
    for name in set(request.query.keys()):
        if name == token_param or name in NOT_FILTERS:
            continue
        values = request.query.getall(name)
        out[name] = tuple(sorted(p for v in values for p in v.split(",") if p))
    return tuple(sorted(out.items()))


@dataclass(slots=True)
class PagingRules:
    filters_must_match: bool = True  # [I] see the module doc
    v2026_token_alone: bool = True  # [U]

    def check(
        self,
        request: web.Request,
        token_param: str,
        issued: Filters,
        *,
        required: Iterable[str] = (),
        alone_ok: bool = False,
    ) -> None:
        """400 InvalidInput (Amazon's envelope) when a next-page request breaks the binding."""
        given = request_filters(request, token_param)
        names = {n for n, _ in given}
        missing = [n for n in required if n not in names]
        if missing:  # a required parameter is required on every page [D]
            raise BadInput(details=f"{', '.join(missing)} is required.")
        if not given and alone_ok:
            return
        if self.filters_must_match and given != issued:
            raise BadInput(
                f"Invalid {token_param}: it was issued for a request with other filters.",
                details="Repeat the first page's filters unchanged with the token.",
            )
