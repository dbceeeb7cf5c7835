"""Which SP-API role each flow of the connector needs, and how to tell a missing role.

Amazon answers an operation the application has no role for with 403 ``Unauthorized`` "Access
to requested resource is denied." (also seen: "Access to the resource is forbidden") with empty
details [D "Selling Partner API Roles": "If you call an operation for which you don't have the
required roles, you get a 403 error"; C selling-partner-api-models#2007, jlevers#185]. An
expired or revoked access token is a 403 too, but its details say so (the client refreshes
once, ``client._stale_access_token``): what reaches the engine as a 403 is a refusal.

A role is granted to the application in the developer profile, then the seller must authorise
the application again: a refresh token issued before the role was added does not carry it [C
selling-partner-api-models#1723].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import FatalRemoteError

__all__ = ["FLOW_ROLES", "OPERATION_ROLE", "FlowRole", "is_role_refusal", "role_fix", "role_hint"]


@dataclass(frozen=True, slots=True)
class FlowRole:
    flow: str  # poller prefix: orders, settlements, fba, mfn, listings, pii
    operation: str  # what ping probes
    role: str  # the role to add (Amazon's name)
    alternatives: tuple[str, ...] = ()  # any one of these opens it as well


# [D] "Get orders with filtering criteria" / "Get order information": any of many roles;
# Inventory and Order Tracking is the one the v0 tutorial names.
_ORDERS = FlowRole("orders", "getOrders / searchOrders", "Inventory and Order Tracking")
FLOW_ROLES: dict[str, FlowRole] = {
    "orders": _ORDERS,
    # [D "Settlement Reports": Flat File V2 -> Finance and Accounting]
    "settlements": FlowRole("settlements", "getReports (settlement V2)", "Finance and Accounting"),
    # [D FBA Inventory API: Amazon Fulfillment or Product Listing]
    "fba": FlowRole("fba", "getInventorySummaries", "Amazon Fulfillment", ("Product Listing",)),
    # [I] the merchant listings report's role is not documented in our evidence
    "mfn": FlowRole(
        "mfn",
        "getReports (GET_MERCHANT_LISTINGS_ALL_DATA)",
        "Product Listing",
        ("Inventory and Order Tracking",),
    ),
    # [D "Partially update a listing": Product Listing]
    "listings": FlowRole("listings", "getListingsItem / patchListingsItem", "Product Listing"),
    # [D "Get order information": the shipping address needs Direct-to-Consumer Shipping]
    "pii": FlowRole("pii", "ship-to address", "Direct-to-Consumer Shipping (Restricted)"),
}

OPERATION_ROLE: dict[str, str] = {
    "getOrders": "orders",
    "getOrder": "orders",
    "getOrderItems": "orders",
    "searchOrders": "orders",
    "getOrderAddress": "pii",
    "createRestrictedDataToken": "pii",
    "getInventorySummaries": "fba",
    "getListingsItem": "listings",
    "patchListingsItem": "listings",
    "putListingsItem": "listings",
    "listFinancialEventGroups": "settlements",
}

_OPERATION = re.compile(r"^(\w+):")


def is_role_refusal(exc: BaseException) -> bool:
    """A 403 from the SP-API itself (not LWA): the application lacks a role for the call."""
    return (
        isinstance(exc, FatalRemoteError)
        and exc.status == 403
        and getattr(exc, "system", "") == "amazon"
    )


def role_hint(flow: str, exc: BaseException | None = None) -> FlowRole | None:
    """The role a refused call of ``flow`` (a poller prefix) probably lacks; the operation
    named in the error wins (e.g. a listing patch refused inside the catalog flow)."""
    if exc is not None and (m := _OPERATION.match(str(exc))):
        by_op = OPERATION_ROLE.get(m.group(1))
        if by_op is not None:
            return FLOW_ROLES[by_op]
    return FLOW_ROLES.get(flow.split(":")[0])


def role_fix(role: FlowRole) -> str:
    alt = f" (or {', '.join(role.alternatives)})" if role.alternatives else ""
    return (
        f"add the SP-API role '{role.role}'{alt} to the app (developer profile + app "
        "registration), then have the seller authorise the app again and store the new "
        "refresh token (`ml-connector creds set amazon --region R`)"
    )
