"""``GET_XML_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL`` parsed as a stream, safely.

Amazon publishes no schema for this report [U reference §1.3]; the element names are those of
public code that reads it [C] (``AmazonEnvelope/Message/Order`` with ``AmazonOrderID``,
``LastUpdatedDate``, ``FulfillmentData/FulfillmentChannel``, ``OrderItem/AmazonOrderItemCode``,
``ItemPrice/Component``) and the rest a guess [G] shared with the simulator (each name's evidence:
``engine.sim.amazon.order_reports``). Names are matched without namespace; unknown elements are
ignored.

Safety: the document is untrusted. defusedxml's parser refuses any DTD (so no entity can be
declared: billion laughs, external entities and network access are impossible) [D defusedxml
README]. No tree is built: a parser target keeps only the order being read (its fields and lines)
and hands each finished ``<Order>`` over, so memory stays constant whatever the document's size
(and it is ~3x faster than iterparse with clearing); one text value is capped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any
from xml.etree.ElementTree import ParseError as XmlSyntaxError
from xml.parsers.expat import ExpatError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from engine.adapters.amazon.document_text import Document, open_binary
from engine.adapters.amazon.order_report_model import (
    ReportLine,
    ReportOrder,
    money,
    payload,
    quantity,
)
from engine.errors import ParseError

__all__ = ["MAX_TEXT_CHARS", "check_xml", "iter_xml_orders"]

MAX_TEXT_CHARS = 1 << 16  # one element's text; real values are under 1 KB
CHUNK = 1 << 16  # fed to expat at a time
# Read from the file in 256 KB steps: tens of ms of parsing between reads, so the parse thread
# does not starve the event loop of the GIL (see READ_BUFFER_BYTES), and the parser's peak
# allocation stays under 2 MB (a MiB buffer took it to 4 MB).
FILE_BUFFER_BYTES = 1 << 18
# ItemPrice/Component Type -> ReportLine field [G Type names, see module doc].
_COMPONENTS = {
    "principal": "item_price",
    "tax": "item_tax",
    "shipping": "shipping_price",
    "shippingtax": "shipping_tax",
    "giftwrap": "gift_wrap_price",
    "giftwraptax": "gift_wrap_tax",
}
# (parent, element) -> ReportOrder field, for the order's own values.
_ORDER_FIELDS = {
    ("order", "amazonorderid"): "order_id",
    ("order", "purchasedate"): "purchase_date",
    ("order", "lastupdateddate"): "last_update",
    ("order", "orderstatus"): "status",
    ("order", "saleschannel"): "sales_channel",
    ("order", "isbusinessorder"): "is_business_order",
    ("order", "purchaseordernumber"): "purchase_order_number",
    ("fulfillmentdata", "fulfillmentchannel"): "fulfillment_channel",
}
_LINE_TEXT = {"amazonorderitemcode", "asin", "sku", "quantity"}
_PROMOTION = {
    "itempromotiondiscount": "promotion_discount",
    "shippromotiondiscount": "shipping_discount",
}


class _Orders:
    """Parser target: element events in, finished ``ReportOrder``s out (``self.done``)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.stack: list[str] = []
        self.text: list[str] = []
        self.size = 0
        self.root: str | None = None
        self.order: ReportOrder | None = None
        self.line: dict[str, Any] | None = None
        self.comp: dict[str, str | None] = {}
        self.done: list[ReportOrder] = []

    def _name(self, tag: str) -> str:
        """``{namespace}Name`` -> ``name`` (lower case: the casing of real files is unverified)."""
        name = self.names.get(tag)
        if name is None:
            name = self.names[tag] = tag.rsplit("}", 1)[-1].lower()
        return name

    def start(self, tag: str, attrib: list[str]) -> None:
        """expat StartElementHandler (ordered attributes: [name, value, name, value, ...])."""
        name = self._name(tag)
        if self.root is None:
            self.root = name
            if name != "amazonenvelope":
                raise ParseError(f"amazon report: root element <{name[:40]}>, not <AmazonEnvelope>")
        self.stack.append(name)
        self.text, self.size = [], 0
        if name == "order":
            self.order = ReportOrder(order_id="")
        elif name == "orderitem" and self.order is not None:
            self.line = {}
        elif name == "component":
            self.comp = {}
        elif name == "amount" and self.line is not None:
            attrs = dict(zip(attrib[::2], attrib[1::2], strict=False))
            self.comp["currency"] = attrs.get("currency")

    def data(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_TEXT_CHARS:
            raise ParseError(f"amazon report: an element longer than {MAX_TEXT_CHARS} chars")
        self.text.append(text)

    def end(self, tag: str) -> None:
        name = self.stack.pop()
        parent = self.stack[-1] if self.stack else ""
        value = "".join(self.text).strip()
        self.text, self.size = [], 0
        order, line = self.order, self.line
        if order is None:
            return
        if line is not None:
            if name == "orderitem":
                order.lines.append(self._finish_line(line))
                self.line = None
            elif parent == "orderitem" and name in _LINE_TEXT:
                line[name] = value
            elif parent == "component" and name in ("type", "amount"):
                self.comp[name] = value
            elif name == "component":
                field = _COMPONENTS.get((self.comp.get("type") or "").lower())
                if field is not None and self.comp.get("amount") is not None:
                    line[field] = self.comp["amount"]
                    line.setdefault("currency", self.comp.get("currency"))
            elif name == "itemprice":
                line["priced"] = True
            elif parent == "promotion" and name in _PROMOTION:
                line[_PROMOTION[name]] = value
            elif parent == "taxcollection" and name == "model":
                line["tax_model"] = value
            return
        if name == "order":
            if not order.order_id:
                raise ParseError("amazon report: an <Order> without AmazonOrderID")
            self.done.append(order)
            self.order = None
        elif (key := _ORDER_FIELDS.get((parent, name))) is not None:
            setattr(order, key, value)

    def _finish_line(self, raw: dict[str, Any]) -> ReportLine:
        assert self.order is not None
        if not raw.get("amazonorderitemcode"):
            raise ParseError(
                f"amazon report: order {self.order.order_id} has an item without "
                "AmazonOrderItemCode"
            )
        ln = ReportLine(
            order_item_id=raw["amazonorderitemcode"],
            sku=raw.get("sku"),
            asin=raw.get("asin"),
            quantity=quantity(raw.get("quantity")),
            promotion_discount=raw.get("promotion_discount"),
            shipping_discount=raw.get("shipping_discount"),
            tax_model=raw.get("tax_model"),
        )
        if raw.get("priced"):
            # An ItemPrice without a Principal component is priced at 0 (a missing Component
            # is zero [G r1-notes]); no ItemPrice at all is "no price yet" (Pending MFN [D]).
            ln.item_price = "0"
            for field in _COMPONENTS.values():
                if raw.get(field) is not None:
                    setattr(ln, field, money(raw[field]))
        self.order.currency = self.order.currency or raw.get("currency")
        return ln


def _open(doc: Document) -> IO[bytes]:
    return open_binary(doc.path, doc.compressed, FILE_BUFFER_BYTES)


def iter_xml_orders(
    doc: Document, region: str, marketplace_ids: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """Normalised payloads of the document's orders, in document order (constant memory).

    ParseError: not well-formed (truncated), a DTD or entity (refused), no ``AmazonEnvelope``
    root, or an order that cannot be read. Orders of no Amazon marketplace are skipped.
    """
    target = _Orders()
    parser = DefusedXMLParser(forbid_dtd=True)
    # defusedxml's handlers refuse the DTD, entities and external references on the expat
    # parser; the element handlers go straight to the target (ElementTree's per-element
    # Python layer would double the parse time and build nothing we use).
    expat = parser.parser
    expat.StartElementHandler = target.start
    expat.EndElementHandler = target.end
    expat.CharacterDataHandler = target.data
    with _open(doc) as fh:
        try:
            while True:
                chunk = fh.read(CHUNK)
                expat.Parse(chunk, not chunk)  # the final call raises on a document cut short
                for order in target.done:
                    body = payload(order, region, marketplace_ids)
                    if body is not None:
                        yield body
                target.done.clear()
                if not chunk:
                    break
        except (ExpatError, XmlSyntaxError, DefusedXmlException) as exc:
            raise ParseError(f"amazon report: XML refused ({type(exc).__name__}: {exc})") from None
        except (OSError, EOFError) as exc:  # gzip cut short or corrupt
            raise ParseError(f"amazon report: document unreadable ({exc})") from None
    if target.root is None:
        raise ParseError("amazon report: empty XML document")


_TREE_HANDLERS = (
    "StartElementHandler",
    "EndElementHandler",
    "CharacterDataHandler",
    "StartNamespaceDeclHandler",
    "EndNamespaceDeclHandler",
    "CommentHandler",
    "ProcessingInstructionHandler",
    "DefaultHandlerExpand",
)


def check_xml(doc: Document) -> None:
    """The whole document well-formed and free of DTDs/entities (ParseError if not), checked by
    expat alone (no Python per element: about a tenth of a full read). Run before anything is
    appended from a document, so a truncated or hostile one appends nothing."""
    parser = DefusedXMLParser(forbid_dtd=True)
    expat = parser.parser
    for handler in _TREE_HANDLERS:
        setattr(expat, handler, None)
    first = True
    with _open(doc) as fh:
        try:
            while True:
                chunk = fh.read(CHUNK)
                if first and not chunk.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
                    raise ParseError("amazon report: not an XML document")
                first = False
                expat.Parse(chunk, not chunk)
                if not chunk:
                    break
        except (ExpatError, XmlSyntaxError, DefusedXmlException) as exc:
            raise ParseError(f"amazon report: XML refused ({type(exc).__name__}: {exc})") from None
        except (OSError, EOFError) as exc:
            raise ParseError(f"amazon report: document unreadable ({exc})") from None
