"""SP-API roles: which role each simulated operation needs, and the 403 a seller without it gets.

Amazon decides per operation (and, for the Reports API, per report type) whether the calling
application holds a role that opens it; "any one of the listed roles" is enough [D "Role
Mappings for SP-API Operations": "For a given operation, you don't need all listed roles"].
Operations on restricted data need a restricted role on top [D same page, note on PII].

Evidence per rule is next to it. Where the docs in the corpus do not settle a mapping the rule
says so ([I]/[U]) and a simulator option can change it (``AmazonSimulator(operation_roles=...)``).

The refusal is the SP-API envelope ``403 {"errors":[{"code":"Unauthorized","message":...,
"details":""}]}``. Observed messages: "Access to requested resource is denied." [C
selling-partner-api-models#2007 (settlement report and listFinancialEvents without the role)]
and "Access to the resource is forbidden" [C jlevers/selling-partner-api#185, models#2719 (a
settlement report refused)]; the first is the default, ``role_denied_message`` picks the other.
Neither says "expired": a client must not take it for an expired access token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiohttp import web

from engine.sim.amazon.common import error

__all__ = [
    "ALL_ROLES",
    "DENIED",
    "FORBIDDEN",
    "OPERATION_ROLES",
    "REPORT_TYPE_ROLES",
    "RESTRICTED_ROLES",
    "Roles",
    "canonical_role",
]

# Amazon's role names [D "Selling Partner API Roles" / the role pages of the developer docs].
INSIGHTS = "Selling Partner Insights"
TRACKING = "Inventory and Order Tracking"
FINANCE = "Finance and Accounting"
FULFILLMENT = "Amazon Fulfillment"
LISTING = "Product Listing"
PRICING = "Pricing"
BUYER_COMMUNICATION = "Buyer Communication"
BUYER_SOLICITATION = "Buyer Solicitation"
BRAND_ANALYTICS = "Brand Analytics"
DTC_SHIPPING = "Direct-to-Consumer Shipping (Restricted)"
TAX_INVOICING = "Tax Invoicing (Restricted)"
TAX_REMITTANCE = "Tax Remittance (Restricted)"
PROFESSIONAL_SERVICES = "Professional Services (Restricted)"

RESTRICTED_ROLES = frozenset({DTC_SHIPPING, TAX_INVOICING, TAX_REMITTANCE, PROFESSIONAL_SERVICES})
ALL_ROLES = frozenset(
    {
        INSIGHTS,
        TRACKING,
        FINANCE,
        FULFILLMENT,
        LISTING,
        PRICING,
        BUYER_COMMUNICATION,
        BUYER_SOLICITATION,
        BRAND_ANALYTICS,
    }
    | RESTRICTED_ROLES
)

DENIED = "Access to requested resource is denied."
FORBIDDEN = "Access to the resource is forbidden"

# Orders, any one of these [D "Get orders with filtering criteria" and "Get order information"
# (v2026-01-01) list Amazon Fulfillment, Buyer Communication, Buyer Solicitation, Finance and
# Accounting, Inventory and Order Tracking, Pricing, Product Listing, Professional Services,
# Selling Partner Insights and the three restricted roles]. v0: the v0 tutorial names Inventory
# and Order Tracking, the Finance and Accounting role page lists getOrder/getOrderItems/
# getOrderAddress [D]; the same list is assumed for v0 [I].
_ORDERS = frozenset(
    {
        FULFILLMENT,
        BUYER_COMMUNICATION,
        BUYER_SOLICITATION,
        FINANCE,
        TRACKING,
        PRICING,
        LISTING,
        INSIGHTS,
    }
    | RESTRICTED_ROLES
)
_ANY = ALL_ROLES  # an authorised app with at least one role

OPERATION_ROLES: dict[str, frozenset[str]] = {
    "getOrders": _ORDERS,
    "getOrder": _ORDERS,
    "getOrderItems": _ORDERS,
    "getOrderAddress": _ORDERS,  # plus an RDT for the restricted role (routes_orders) [D]
    "getOrderBuyerInfo": _ORDERS,
    "searchOrders": _ORDERS,
    "getOrder2026": _ORDERS,  # includedData=RECIPIENT needs the restricted role too [D]
    # FBA Inventory API: "Amazon Fulfillment, Product Listing" [D FBA Inventory API roles table;
    # the getInventorySummaries tutorial names Product Listing].
    "getInventorySummaries": frozenset({FULFILLMENT, LISTING}),
    # Listings Items: Product Listing [D "Partially update a listing" prerequisites]. Whether
    # another role also opens it is [U]: change it with operation_roles.
    "getListingsItem": frozenset({LISTING}),
    "patchListingsItem": frozenset({LISTING}),
    "putListingsItem": frozenset({LISTING}),
    # Finances v0: Finance and Accounting [D role page "Finance and Accounting"; I: only it].
    "listFinancialEventGroups": frozenset({FINANCE}),
    # Any authorised app may list its marketplaces and ask for an RDT [I: both are listed on
    # several role pages]; the RDT's dataElements are checked against the restricted role.
    "getMarketplaceParticipations": _ANY,
    "createRestrictedDataToken": _ANY,
}

# Reports API operations are open to many roles; the report TYPE decides [D "Role Mappings for
# SP-API Types"]. getReports/createReport/getReport/getReportDocument/cancelReport check it.
REPORT_TYPE_ROLES: dict[str, frozenset[str]] = {
    # [D "Settlement Reports": "Flat File V2 Settlement Report ... Role: Finance and Accounting"]
    "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2": frozenset({FINANCE}),
    # [D same page: the deprecated V1 flat file: Inventory and Order Tracking, Finance and
    # Accounting, Amazon Fulfillment]
    "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE": frozenset({TRACKING, FINANCE, FULFILLMENT}),
    # [U] the listings report's role page is not in the evidence; Product Listing or Inventory
    # and Order Tracking is assumed [I] (configurable).
    "GET_MERCHANT_LISTINGS_ALL_DATA": frozenset({LISTING, TRACKING}),
    # Order reports [U]; assumed like the orders operations [I].
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL": _ORDERS,
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL": _ORDERS,
    "GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL": _ORDERS,
    "GET_XML_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL": _ORDERS,
}
_REPORT_OPS = {"getReports", "createReport", "getReport", "getReportDocument", "cancelReport"}

_BY_LOWER = {r.lower(): r for r in ALL_ROLES}


def canonical_role(name: str) -> str:
    """Amazon's spelling of a role given in any case; ValueError naming the known roles."""
    found = _BY_LOWER.get(name.strip().lower())
    if found is None:
        known = ", ".join(sorted(ALL_ROLES))
        raise ValueError(f"unknown SP-API role {name!r}; known roles: {known}")
    return found


class Roles:
    """The granted roles of every seller (mutable: tests and ``/__sim/roles`` grant/revoke)."""

    def __init__(
        self,
        granted: list[set[str]],
        *,
        operation_roles: Mapping[str, Iterable[str]] | None = None,
        report_type_roles: Mapping[str, Iterable[str]] | None = None,
        message: str = DENIED,
    ) -> None:
        self.granted = granted
        self.operation_roles = dict(OPERATION_ROLES)
        self.operation_roles.update({k: frozenset(v) for k, v in (operation_roles or {}).items()})
        self.report_type_roles = dict(REPORT_TYPE_ROLES)
        self.report_type_roles.update(
            {k: frozenset(v) for k, v in (report_type_roles or {}).items()}
        )
        self.message = message

    def has(self, seller: int, role: str) -> bool:
        return role in self.granted[seller]

    def grant(self, seller: int, *roles: str) -> None:
        self.granted[seller].update(canonical_role(r) for r in roles)

    def revoke(self, seller: int, *roles: str) -> None:
        self.granted[seller].difference_update(canonical_role(r) for r in roles)

    def pii(self, seller: int) -> bool:
        """Shipping addresses: Direct-to-Consumer Shipping (Restricted) [D "Get order
        information": that role is required to access shipping address information]."""
        return DTC_SHIPPING in self.granted[seller]

    def allows(self, seller: int, operation: str, report_types: Iterable[str] = ()) -> bool:
        """True if the seller holds one role of the operation (and of every report type)."""
        have = self.granted[seller]
        needed = self.operation_roles.get(operation)
        if needed is not None and not have & needed:
            return False
        if operation in _REPORT_OPS:
            for rtype in report_types:
                by_type = self.report_type_roles.get(rtype)
                if by_type is not None and not have & by_type:
                    return False
        return True

    def refusal(self) -> web.Response:
        return error(403, "Unauthorized", self.message, "")

    def as_dict(self) -> list[list[str]]:
        return [sorted(g) for g in self.granted]
