"""How a simulated order reads as JSON: Orders API v0 orders and items, and v2026-01-01 orders."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from engine.sim.amazon.common import iso
from engine.sim.amazon.data import SimLine, SimOrder, quantum

__all__ = [
    "FROM_V2026_STATUS",
    "address",
    "buyer_info",
    "order_items_v0",
    "order_v0",
    "order_v2026",
]

_V2026_STATUS = {
    "Pending": "PENDING",
    "Unshipped": "UNSHIPPED",
    "Shipped": "SHIPPED",
    "Canceled": "CANCELLED",
}
FROM_V2026_STATUS = {v: k for k, v in _V2026_STATUS.items()}


def _m(amount: Decimal, currency: str) -> dict[str, str]:
    return {"CurrencyCode": currency, "Amount": str(amount)}


def _m26(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount), "currencyCode": currency}


def address(o: SimOrder, full: bool) -> dict[str, Any]:
    """A deterministic synthetic address; without PII rights only the non-PII fields."""
    rng = random.Random(o.order_id)
    country = o.marketplace.country
    city = rng.choice(
        {
            "US": ("Seattle", "Austin"),
            "CA": ("Toronto", "Calgary"),
            "DE": ("Köln", "München"),
            "GB": ("London", "Leeds"),
            "JP": ("東京都", "大阪府"),
        }.get(country, ("City",))
    )
    addr: dict[str, Any] = {
        "City": city,
        "PostalCode": f"{rng.randrange(10000, 99999)}",
        "CountryCode": country,
        "StateOrRegion": {"US": "WA", "CA": "ON"}.get(country, ""),
    }
    if full:
        addr |= {
            "Name": f"Buyer {o.order_id[-4:]}",
            "AddressLine1": f"{rng.randrange(1, 999)} Sample Street",
            "Phone": f"+1 555 {rng.randrange(1000000, 9999999)}",
            "AddressType": "Residential",
        }
    return addr


def buyer_info(o: SimOrder) -> dict[str, str]:
    return {
        "BuyerEmail": f"{o.order_id.replace('-', '')}@marketplace.amazon.com",
        "BuyerName": f"Buyer {o.order_id[-4:]}",
    }


def order_v0(o: SimOrder, now: float, elements: set[str]) -> dict[str, Any]:
    status = o.status(now)
    shipped = sum(ln.quantity for ln in o.lines) if status == "Shipped" else 0
    body: dict[str, Any] = {
        "AmazonOrderId": o.order_id,
        "PurchaseDate": iso(o.purchased),
        "LastUpdateDate": iso(o.last_update(now)),
        "OrderStatus": status,
        "FulfillmentChannel": o.channel,
        "SalesChannel": o.marketplace.name,
        "ShipServiceLevel": "Std Cont US Street Addr" if o.channel == "MFN" else "Standard",
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": 0
        if status in ("Shipped", "Canceled")
        else sum(ln.quantity for ln in o.lines),
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": o.marketplace.marketplace_id,
        "ShipmentServiceLevelCategory": "Standard",
        "OrderType": "StandardOrder",
        "EarliestShipDate": iso(o.purchased + 3600),
        "LatestShipDate": iso(o.purchased + 2 * 86400),
        "IsBusinessOrder": o.is_business,
        "IsPrime": o.channel == "AFN",
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": bool(o.replaced_order_id),
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
    }
    if status != "Pending":  # no prices before payment authorisation
        body["OrderTotal"] = _m(o.total(), o.currency)
        body["ShippingAddress"] = address(o, "shippingAddress" in elements)
    if o.replaced_order_id:
        body["ReplacedOrderId"] = o.replaced_order_id
    if "buyerInfo" in elements:
        body["BuyerInfo"] = buyer_info(o)
        if o.business_po:  # [D ordersV0 BuyerInfo.PurchaseOrderNumber]
            body["BuyerInfo"]["PurchaseOrderNumber"] = o.business_po
    return body


def order_items_v0(o: SimOrder, now: float) -> list[dict[str, Any]]:
    status = o.status(now)
    out = []
    for ln in o.lines:
        item: dict[str, Any] = {
            "ASIN": ln.item.asin,
            "SellerSKU": ln.item.sku,
            "OrderItemId": ln.order_item_id,
            "Title": ln.item.description,
            "QuantityOrdered": ln.quantity,
            "QuantityShipped": ln.quantity if status == "Shipped" else 0,
            "ConditionId": "New",
            "ConditionSubtypeId": "New",
            "ProductInfo": {"NumberOfItems": "1"},
        }
        if status != "Pending":
            cur = o.currency
            item |= {
                "ItemPrice": _m(ln.item_price, cur),
                "ItemTax": _m(ln.item_tax, cur),
                "ShippingPrice": _m(ln.shipping, cur),
                "ShippingTax": _m(ln.shipping_tax, cur),
                "ShippingDiscount": _m(ln.shipping_discount, cur),
                "ShippingDiscountTax": _m(Decimal(0) * quantum(cur), cur),
                "PromotionDiscount": _m(ln.promotion, cur),
                "PromotionDiscountTax": _m(Decimal(0) * quantum(cur), cur),
                "PromotionIds": [ln.promotion_id] if ln.promotion_id else [],
                "IsGift": "true" if ln.gift_wrap else "false",
            }
            if ln.gift_wrap:  # ItemBuyerInfo [D ordersV0]
                item["BuyerInfo"] = {
                    "GiftWrapPrice": _m(ln.gift_wrap, cur),
                    "GiftWrapTax": _m(ln.gift_wrap_tax, cur),
                    "GiftWrapLevel": "Classic",
                }
            if o.facilitator_tax:
                item["TaxCollection"] = {
                    "Model": "MarketplaceFacilitator",
                    "ResponsibleParty": "Amazon Services, Inc.",
                }
        out.append(item)
    return out


def _proceeds_2026(ln: SimLine, cur: str) -> dict[str, Any]:
    """An item's proceeds: one subtotal per category, TAX and DISCOUNT with their detailed
    breakdowns by subtype [D ItemProceedsDetailedBreakdown]; discounts negative [I]."""
    zero = Decimal(0) * quantum(cur)

    def detail(pairs: list[tuple[str, Decimal]]) -> list[dict[str, Any]]:
        return [{"subtype": k, "value": _m26(v, cur)} for k, v in pairs if v]

    taxes = [("ITEM", ln.item_tax), ("SHIPPING", ln.shipping_tax), ("GIFT_WRAP", ln.gift_wrap_tax)]
    discounts = [("ITEM", -ln.promotion), ("SHIPPING", -ln.shipping_discount)]
    breakdowns: list[dict[str, Any]] = [
        {"type": "ITEM", "subtotal": _m26(ln.item_price, cur)},
        {"type": "SHIPPING", "subtotal": _m26(ln.shipping, cur)},
    ]
    if ln.gift_wrap:
        breakdowns.append({"type": "GIFT_WRAP", "subtotal": _m26(ln.gift_wrap, cur)})
    breakdowns += [
        {
            "type": "TAX",
            "subtotal": _m26(ln.tax(), cur),
            "detailedBreakdowns": detail(taxes),
        },
        {
            "type": "DISCOUNT",
            "subtotal": _m26(sum((v for _, v in discounts), zero), cur),
            "detailedBreakdowns": detail(discounts),
        },
    ]
    return {"proceedsTotal": _m26(ln.total(), cur), "breakdowns": breakdowns}


def order_v2026(o: SimOrder, now: float, included: set[str], pii: bool) -> dict[str, Any]:
    status = o.status(now)
    cur = o.currency
    items = []
    for ln in o.lines:
        it: dict[str, Any] = {
            "orderItemId": ln.order_item_id,
            "quantityOrdered": ln.quantity,
            "product": {
                "asin": ln.item.asin,
                "title": ln.item.description,
                "sellerSku": ln.item.sku,
                "condition": {"conditionType": "New"},
            },
        }
        if status != "Pending":
            it["product"]["price"] = {"unitPrice": _m26(ln.item_price / ln.quantity, cur)}
            if "PROCEEDS" in included:
                it["proceeds"] = _proceeds_2026(ln, cur)
            if "TAX" in included and o.facilitator_tax:
                it["tax"] = {
                    "taxCollections": [
                        {
                            "model": "MARKETPLACE_FACILITATOR",
                            "responsibleParty": "Amazon Services, Inc.",
                        }
                    ]
                }
            if "PROMOTION" in included and ln.promotion_id:
                it["promotion"] = {"breakdowns": [{"promotionId": ln.promotion_id}]}
        if "FULFILLMENT" in included:
            done = ln.quantity if status == "Shipped" else 0
            it["fulfillment"] = {
                "quantityFulfilled": done,
                "quantityUnfulfilled": ln.quantity - done,
            }
        items.append(it)
    body: dict[str, Any] = {
        "orderId": o.order_id,
        "createdTime": iso(o.purchased),
        "lastUpdatedTime": iso(o.last_update(now)),
        "salesChannel": {
            "channelName": "Amazon",
            "marketplaceId": o.marketplace.marketplace_id,
            "marketplaceName": o.marketplace.name,
        },
        "orderItems": items,
    }
    if o.is_business:
        body["programs"] = ["AMAZON_BUSINESS"]
    if o.replaced_order_id:
        body["associatedOrders"] = [
            {"orderId": o.replaced_order_id, "associationType": "REPLACEMENT_ORIGINAL_ID"}
        ]
    if "FULFILLMENT" in included:
        body["fulfillment"] = {
            "fulfillmentStatus": _V2026_STATUS[status],
            "fulfilledBy": "AMAZON" if o.channel == "AFN" else "MERCHANT",
        }
    if "PROCEEDS" in included and status != "Pending":
        body["proceeds"] = {"grandTotal": _m26(o.total(), cur)}
    if pii and "BUYER" in included:
        b = buyer_info(o)
        body["buyer"] = {"buyerName": b["BuyerName"], "buyerEmail": b["BuyerEmail"]}
        if o.business_po:
            body["buyer"]["buyerPurchaseOrderNumber"] = o.business_po
    if pii and "RECIPIENT" in included and status != "Pending":
        a = address(o, True)
        body["recipient"] = {
            "deliveryAddress": {
                "name": a["Name"],
                "addressLine1": a["AddressLine1"],
                "city": a["City"],
                "stateOrRegion": a["StateOrRegion"],
                "postalCode": a["PostalCode"],
                "countryCode": a["CountryCode"],
                "phone": a["Phone"],
                "addressType": "RESIDENTIAL",
            }
        }
    return body
