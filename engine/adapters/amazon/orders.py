"""Orders v0 and v2026-01-01 calls and their normalisation into one payload shape.

The normalised payload is documented in /work/notes/events.md (stream ``amazon.orders``). Money is
kept as the decimal string Amazon sent (``str(Decimal(amount))``); ``None`` when absent (Pending).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from engine.adapters.amazon.client import AmazonClient, iso_z
from engine.errors import ParseError

__all__ = [
    "SHIP_TO_STATUSES",
    "V2026_INCLUDED",
    "address_v0",
    "address_v2026",
    "get_order_address",
    "get_order_items",
    "get_order_v2026",
    "get_orders_v0",
    "normalise_v0",
    "normalise_v2026",
    "search_orders",
]

V2026_INCLUDED = ("PROCEEDS", "FULFILLMENT", "PROMOTION", "TAX")  # TAX: taxCollections
_STATUS_2026 = {
    "PENDING_AVAILABILITY": "PendingAvailability",
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
    "UNFULFILLABLE": "Unfulfillable",
}
ADDRESS_STATUSES = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})
# Statuses in which the seller still has to ship (part of) a merchant-fulfilled order: the only
# time its ship-to is needed (QAD's ship-to of the sales order), so the only time it is fetched.
SHIP_TO_STATUSES = frozenset({"Unshipped", "PartiallyShipped"})


def _money(m: Any, amount_key: str = "Amount") -> str | None:
    if not isinstance(m, dict) or m.get(amount_key) in (None, ""):
        return None
    try:
        return str(Decimal(str(m[amount_key])))
    except InvalidOperation:
        raise ParseError(f"amazon: bad money amount {m[amount_key]!r}") from None


def _ts(text: Any) -> str | None:
    """Amazon timestamps normalised to ISO-8601 UTC with Z, second precision."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return iso_z(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ParseError(f"amazon: bad timestamp {text!r}") from None


def _unit(item_price: str | None, qty: int) -> str | None:
    if item_price is None or qty <= 0:
        return None
    ip = Decimal(item_price)
    return str((ip / qty).quantize(Decimal(1).scaleb(ip.as_tuple().exponent), ROUND_HALF_UP))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- v0


def normalise_v0(
    order: dict[str, Any], items: Sequence[dict[str, Any]], region: str
) -> dict[str, Any]:
    """getOrders order + getOrderItems items -> normalised payload (ship_to/pii added later)."""
    lines: list[dict[str, Any]] = []
    currency = (order.get("OrderTotal") or {}).get("CurrencyCode")
    for it in items:
        qty = int(it.get("QuantityOrdered", 0))
        ip = _money(it.get("ItemPrice"))
        currency = currency or (it.get("ItemPrice") or {}).get("CurrencyCode")
        gift = _obj(it.get("BuyerInfo"))
        lines.append(
            {
                "order_item_id": str(it["OrderItemId"]),
                "sku": it.get("SellerSKU"),
                "asin": it.get("ASIN"),
                "quantity": qty,
                "quantity_shipped": int(it.get("QuantityShipped", 0) or 0),
                "unit_price": _unit(ip, qty),
                "item_price": ip,
                "item_tax": _money(it.get("ItemTax")),
                "shipping_price": _money(it.get("ShippingPrice")),
                "shipping_tax": _money(it.get("ShippingTax")),
                "promotion_discount": _money(it.get("PromotionDiscount")),
                "promotion_discount_tax": _money(it.get("PromotionDiscountTax")),
                "shipping_discount": _money(it.get("ShippingDiscount")),
                "shipping_discount_tax": _money(it.get("ShippingDiscountTax")),
                # Gift wrap rides in the item's BuyerInfo [D ordersV0 ItemBuyerInfo].
                "gift_wrap_price": _money(gift.get("GiftWrapPrice")),
                "gift_wrap_tax": _money(gift.get("GiftWrapTax")),
                # TaxCollection.Model "MarketplaceFacilitator": Amazon collects and remits [D].
                "tax_model": _tax_model_v0(it),
            }
        )
    lines.sort(key=lambda ln: str(ln["order_item_id"]))
    return {
        "order_id": order["AmazonOrderId"],
        "region": region,
        "marketplace_id": order.get("MarketplaceId"),
        "status": order.get("OrderStatus"),
        "fulfillment": order.get("FulfillmentChannel"),
        "purchase_date": _ts(order.get("PurchaseDate")),
        "last_update": _ts(order.get("LastUpdateDate")),
        "currency": currency,
        "order_total": _money(order.get("OrderTotal")),
        "lines": lines,
        **_business_v0(order),
        "ship_to": None,
        "pii": "not_needed",
    }


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tax_model_v0(item: dict[str, Any]) -> str | None:
    tc = item.get("TaxCollection")
    model = tc.get("Model") if isinstance(tc, dict) else None
    return "MARKETPLACE_FACILITATOR" if model == "MarketplaceFacilitator" else None


def _business_v0(order: dict[str, Any]) -> dict[str, Any]:
    """Business / replacement flags [D ordersV0 Order]; the PO number and the buyer's VAT id
    only arrive with buyer info (BuyerInfo.PurchaseOrderNumber, BuyerTaxInfo), else None."""
    buyer = _obj(order.get("BuyerInfo"))
    tax_info = _obj(buyer.get("BuyerTaxInfo"))
    vat = [
        str(c.get("TaxingClassificationValue") or "")
        for c in tax_info.get("TaxClassifications") or []
        if isinstance(c, dict) and c.get("TaxingClassificationValue")
    ]
    return {
        "is_business_order": bool(order.get("IsBusinessOrder")),
        "purchase_order_number": buyer.get("PurchaseOrderNumber") or None,
        "buyer_vat_id": vat[0] if vat else None,
        "is_replacement_order": str(order.get("IsReplacementOrder")).lower() == "true",
        "replaced_order_id": order.get("ReplacedOrderId") or None,
    }


def address_v0(addr: dict[str, Any] | None) -> dict[str, Any] | None:
    """getOrderAddress ShippingAddress -> the plaintext that gets sealed (None if no name/line)."""
    if not addr or not (addr.get("Name") or addr.get("AddressLine1")):
        return None
    return {
        "name": addr.get("Name"),
        "address_line1": addr.get("AddressLine1"),
        "address_line2": addr.get("AddressLine2"),
        "address_line3": addr.get("AddressLine3"),
        "city": addr.get("City"),
        "state_or_region": addr.get("StateOrRegion"),
        "postal_code": addr.get("PostalCode"),
        "country_code": addr.get("CountryCode"),
        "phone": addr.get("Phone"),
    }


async def get_orders_v0(
    client: AmazonClient,
    marketplace_ids: Sequence[str],
    after: datetime,
    before: datetime,
    *,
    page_size: int = 100,
) -> AsyncIterator[tuple[list[dict[str, Any]], str | None]]:
    """Pages of (orders, LastUpdatedBefore echo) by LastUpdatedAfter/Before."""
    params = [
        ("MarketplaceIds", ",".join(marketplace_ids)),
        ("LastUpdatedAfter", iso_z(after)),
        ("LastUpdatedBefore", iso_z(before)),
        ("MaxResultsPerPage", str(page_size)),
    ]
    async for body in client.paginate("getOrders", "/orders/v0/orders", params, "v0"):
        payload = body.get("payload") or {}
        yield list(payload.get("Orders") or []), payload.get("LastUpdatedBefore")


async def get_order_items(client: AmazonClient, order_id: str) -> list[dict[str, Any]]:
    """All items of one order (v0 getOrderItems, paged)."""
    out: list[dict[str, Any]] = []
    path = f"/orders/v0/orders/{order_id}/orderItems"
    async for body in client.paginate("getOrderItems", path, [], "v0"):
        out.extend((body.get("payload") or {}).get("OrderItems") or [])
    return out


async def get_order_address(client: AmazonClient, order_id: str, rdt: str) -> dict[str, Any]:
    """v0 getOrderAddress with a Restricted Data Token -> ShippingAddress dict ({} if none)."""
    resp = await client.call(
        "getOrderAddress", "GET", f"/orders/v0/orders/{order_id}/address", rdt=rdt
    )
    payload = (resp.body or {}).get("payload") or {}
    return dict(payload.get("ShippingAddress") or {})


# ---------------------------------------------------------------------------- v2026


def normalise_v2026(order: dict[str, Any], region: str) -> dict[str, Any]:
    """searchOrders/getOrder order (with PROCEEDS, FULFILLMENT) -> normalised payload."""
    lines: list[dict[str, Any]] = []
    currency: str | None = None
    for it in order.get("orderItems") or []:
        qty = int(it.get("quantityOrdered", 0))
        product = it.get("product") or {}
        unit_m = (product.get("price") or {}).get("unitPrice")
        breakdowns = (it.get("proceeds") or {}).get("breakdowns") or []
        bd = {b.get("type"): b.get("subtotal") for b in breakdowns}
        detail = _details_2026(breakdowns)
        currency = currency or (unit_m or {}).get("currencyCode")
        item_price = _money(bd.get("ITEM"), "amount")
        unit = _money(unit_m, "amount")
        if item_price is None and unit is not None:
            item_price = str(Decimal(unit) * qty)
        if unit is not None and item_price is not None:
            unit = _unit(item_price, qty)  # same rounding as v0 for equal payloads
        fulfil = it.get("fulfillment") or {}
        lines.append(
            {
                "order_item_id": str(it["orderItemId"]),
                "sku": product.get("sellerSku"),
                "asin": product.get("asin"),
                "quantity": qty,
                "quantity_shipped": int(fulfil.get("quantityFulfilled", 0) or 0),
                "unit_price": unit,
                "item_price": item_price,
                "shipping_price": _money(bd.get("SHIPPING"), "amount"),
                "gift_wrap_price": _money(bd.get("GIFT_WRAP"), "amount"),
                **_split_2026(_money(bd.get("TAX"), "amount"), detail.get("TAX", {}), "tax"),
                **_split_2026(
                    _money(bd.get("DISCOUNT"), "amount"), detail.get("DISCOUNT", {}), "discount"
                ),
                "tax_model": _tax_model_2026(it),
            }
        )
    lines.sort(key=lambda ln: str(ln["order_item_id"]))
    total_m = (order.get("proceeds") or {}).get("grandTotal")
    fulfilment = order.get("fulfillment") or {}
    by = fulfilment.get("fulfilledBy")
    return {
        "order_id": order["orderId"],
        "region": region,
        "marketplace_id": (order.get("salesChannel") or {}).get("marketplaceId"),
        "status": _STATUS_2026.get(fulfilment.get("fulfillmentStatus", "")),
        "fulfillment": {"AMAZON": "AFN", "MERCHANT": "MFN"}.get(by or ""),
        "purchase_date": _ts(order.get("createdTime")),
        "last_update": _ts(order.get("lastUpdatedTime")),
        "currency": (total_m or {}).get("currencyCode") or currency,
        "order_total": _money(total_m, "amount"),
        "lines": lines,
        **_business_2026(order),
        "ship_to": None,
        "pii": "not_needed",
    }


def _details_2026(breakdowns: list[Any]) -> dict[str, dict[str, str | None]]:
    """TAX / DISCOUNT detailedBreakdowns by subtype (ITEM, SHIPPING, GIFT_WRAP...) [D]."""
    out: dict[str, dict[str, str | None]] = {}
    for b in breakdowns:
        if isinstance(b, dict) and b.get("detailedBreakdowns"):
            out[str(b.get("type"))] = {
                str(d.get("subtype")): _money(d.get("value"), "amount")
                for d in b["detailedBreakdowns"]
                if isinstance(d, dict)
            }
    return out


def _split_2026(total: str | None, detail: dict[str, str | None], kind: str) -> dict[str, Any]:
    """v2026's one TAX (or DISCOUNT) subtotal split the way v0 reports it.

    Without a detailed breakdown the whole amount is the item's. Discounts come as negative
    proceeds [D "DISCOUNT" is a proceeds category; the sign is I from the simulator's reading];
    normalised as v0: positive = discount. Tax on a discount (subtype DISCOUNT of TAX) is
    negative proceeds too and becomes v0's positive PromotionDiscountTax.
    """
    amounts = dict(detail) if detail else {"ITEM": total}
    if total is not None and detail:
        # Never lose a cent: what the other subtypes do not explain is the item's.
        others = [Decimal(v) for k, v in amounts.items() if k != "ITEM" and v]
        amounts["ITEM"] = str(Decimal(total) - sum(others, Decimal(0)))

    def neg(v: str | None) -> str | None:
        return None if v is None else str(Decimal(0) - Decimal(v))  # 0 - x: never "-0.00"

    if kind == "tax":
        return {
            "item_tax": amounts.get("ITEM"),
            "shipping_tax": amounts.get("SHIPPING"),
            "gift_wrap_tax": amounts.get("GIFT_WRAP"),
            "promotion_discount_tax": neg(amounts.get("DISCOUNT")),
            "shipping_discount_tax": None,
        }
    return {
        "promotion_discount": neg(amounts.get("ITEM")),
        "shipping_discount": neg(amounts.get("SHIPPING")),
    }


def _tax_model_2026(item: dict[str, Any]) -> str | None:
    collections = (item.get("tax") or {}).get("taxCollections") or []
    models = {str(c.get("model")) for c in collections if isinstance(c, dict)}
    return "MARKETPLACE_FACILITATOR" if "MARKETPLACE_FACILITATOR" in models else None


def _business_2026(order: dict[str, Any]) -> dict[str, Any]:
    """programs AMAZON_BUSINESS, buyer PO (BUYER data only), BUYER VAT registrations and
    associatedOrders REPLACEMENT_ORIGINAL_ID [D orders_2026-01-01]."""
    programs = set(order.get("programs") or [])
    buyer = _obj(order.get("buyer"))
    regs = (order.get("tax") or {}).get("taxRegistrations") or []
    vat = [
        str(r.get("taxRegistrationNumber"))
        for r in regs
        if isinstance(r, dict) and r.get("entityType") == "BUYER" and r.get("taxRegistrationNumber")
    ]
    replaced = [
        a.get("orderId")
        for a in order.get("associatedOrders") or []
        if isinstance(a, dict) and a.get("associationType") == "REPLACEMENT_ORIGINAL_ID"
    ]
    return {
        "is_business_order": "AMAZON_BUSINESS" in programs,
        "purchase_order_number": buyer.get("buyerPurchaseOrderNumber") or None,
        "buyer_vat_id": vat[0] if vat else None,
        "is_replacement_order": bool(replaced),
        "replaced_order_id": replaced[0] if replaced else None,
    }


def address_v2026(order: dict[str, Any]) -> dict[str, Any] | None:
    """recipient.deliveryAddress -> the plaintext that gets sealed (None when absent)."""
    a = (order.get("recipient") or {}).get("deliveryAddress")
    if not a or not (a.get("name") or a.get("addressLine1")):
        return None
    return {
        "name": a.get("name"),
        "address_line1": a.get("addressLine1"),
        "address_line2": a.get("addressLine2"),
        "address_line3": a.get("addressLine3"),
        "city": a.get("city"),
        "state_or_region": a.get("stateOrRegion"),
        "postal_code": a.get("postalCode"),
        "country_code": a.get("countryCode"),
        "phone": a.get("phone"),
    }


async def search_orders(
    client: AmazonClient,
    marketplace_ids: Sequence[str],
    after: datetime,
    before: datetime,
    *,
    included: Sequence[str] = V2026_INCLUDED,
    page_size: int = 100,
) -> AsyncIterator[tuple[list[dict[str, Any]], str | None]]:
    """Pages of (orders, lastUpdatedBefore echo) from searchOrders (items inline)."""
    params = [
        ("lastUpdatedAfter", iso_z(after)),
        ("lastUpdatedBefore", iso_z(before)),
        ("marketplaceIds", ",".join(marketplace_ids)),
        ("maxResultsPerPage", str(page_size)),
        ("includedData", ",".join(included)),
    ]
    async for body in client.paginate("searchOrders", "/orders/2026-01-01/orders", params, "v2026"):
        yield list(body.get("orders") or []), body.get("lastUpdatedBefore")


async def get_order_v2026(
    client: AmazonClient, order_id: str, included: Sequence[str]
) -> dict[str, Any]:
    """getOrder (2026-01-01) with includedData (e.g. RECIPIENT for the ship-to address)."""
    resp = await client.call(
        "getOrder2026",
        "GET",
        f"/orders/2026-01-01/orders/{order_id}",
        params=[("includedData", ",".join(included))],
    )
    return dict((resp.body or {}).get("order") or {})
