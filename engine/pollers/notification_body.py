"""ORDER_CHANGE notification bodies (untrusted SQS text) -> the ``NotificationReceived`` payload.

Shape [D amzn/selling-partner-api-models schemas/notifications/OrderChangeNotification.json]:
PascalCase envelope ``NotificationVersion, NotificationType, PayloadVersion, EventTime,
NotificationMetadata{ApplicationId, SubscriptionId, PublishTime, NotificationId},
Payload.OrderChangeNotification{NotificationLevel, SellerId, AmazonOrderId, OrderChangeType,
OrderChangeTrigger{TimeOfOrderChange, ChangeReason}, Summary{MarketplaceId, OrderStatus, ...}}``.

Only what the consumer needs is kept, each value checked against a pattern: the notification is
a hint to call getOrder, never the truth (its OrderStatus is recorded for the audit trail and
never projected). Nothing here is PII (the payload has none; DestinationPostalCode is dropped).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Malformed", "OrderChange", "parse_order_change"]

# Amazon order ids: 3-7-7 digits [C public SP-API samples; the simulator's format]. Anything
# else is refused: the id goes into a URL path (getOrder) and into the log's key.
ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
# Notification ids are opaque [D: string]; seen as UUID-like text. Bounded and URL-safe.
NOTIFICATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
SELLER_ID = re.compile(r"[A-Z0-9]{1,32}")
MARKETPLACE_ID = re.compile(r"[A-Z0-9]{1,32}")
_WORD = re.compile(r"[A-Za-z0-9_ -]{0,64}")


class Malformed(ValueError):
    """The body is not a usable ORDER_CHANGE notification (the reason never quotes it)."""


@dataclass(frozen=True, slots=True)
class OrderChange:
    """A validated ORDER_CHANGE notification (or another type, ``order_id`` empty)."""

    notification_id: str
    notification_type: str
    seller_id: str
    order_id: str
    marketplace_id: str
    order_status: str
    change_type: str
    event_time: str
    publish_time: str

    def payload(self, region: str) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "notification_type": self.notification_type,
            "seller_id": self.seller_id,
            "order_id": self.order_id,
            "marketplace_id": self.marketplace_id,
            "region": region,
            "order_status": self.order_status,  # as notified: a hint, never projected
            "order_change_type": self.change_type,
            "event_time": self.event_time,
            "publish_time": self.publish_time,
        }


def parse_order_change(body: str, max_bytes: int) -> OrderChange:
    """Validate one SQS body; raises ``Malformed`` with a reason that never quotes the body."""
    if len(body.encode("utf-8", "surrogatepass")) > max_bytes:
        raise Malformed(f"body larger than {max_bytes} bytes")
    try:
        doc = json.loads(body)
    except ValueError:
        raise Malformed("body is not JSON") from None
    if not isinstance(doc, dict):
        raise Malformed("body is not a JSON object")
    meta = _obj(doc, "NotificationMetadata")
    nid = _text(meta, "NotificationId", NOTIFICATION_ID)
    ntype = _text(doc, "NotificationType", _WORD)
    if ntype != "ORDER_CHANGE":  # another subscription on the same queue: not ours to read
        return OrderChange(nid, ntype, "", "", "", "", "", "", "")
    change = _obj(_obj(doc, "Payload"), "OrderChangeNotification")
    summary = _obj(change, "Summary")
    return OrderChange(
        notification_id=nid,
        notification_type=ntype,
        seller_id=_text(change, "SellerId", SELLER_ID),
        order_id=_text(change, "AmazonOrderId", ORDER_ID),
        marketplace_id=_text(summary, "MarketplaceId", MARKETPLACE_ID),
        order_status=_text(summary, "OrderStatus", _WORD, optional=True),
        change_type=_text(change, "OrderChangeType", _WORD, optional=True),
        event_time=_time(doc.get("EventTime")),
        publish_time=_time(meta.get("PublishTime")),
    )


def _obj(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise Malformed(f"{key} missing or not an object")
    return value


def _text(doc: dict[str, Any], key: str, pattern: re.Pattern[str], optional: bool = False) -> str:
    value = doc.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Malformed(f"{key} missing or not of the expected form")
    return value


def _time(value: Any) -> str:
    """An ISO-8601 timestamp as sent, or "" (kept for the audit trail only)."""
    if not isinstance(value, str) or len(value) > 40:
        return ""
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return value
