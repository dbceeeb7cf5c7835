"""Create-once on a tenant without idempotency keys: look up, create, look up again.

Every document carries a deterministic reference in a field its look-up browse filters on
(the Amazon order id in the customer PO, the settlement id in the invoice reference...).
A create is preceded by a look-up, and an unknown outcome is settled by another look-up.

That is only safe if "the look-up found nothing" means "there is nothing", and a QAD browse
answers an unknown id or column with no rows, just like "not found". So each look-up has a
proof state (``LookupProof``):

- ``proven``: the start-up probe filtered it with a row it returned, or it found a document
  the engine had just created. Only a proven look-up may settle an unknown outcome.
- ``unproven``: the browse had no rows at start-up. The first create goes ahead (nothing can
  be duplicated yet) and is looked up right after: found proves the look-up.
- ``broken``: a document the engine created was not found by its look-up (the reference field
  does not land in the look-up column). The create counts as done; every later create of the
  kind raises ConfigError before sending anything, because its retries could duplicate.

An unknown outcome an unproven look-up cannot settle stays unknown (retried later, never
posted blind): the next create of another document proves or breaks the look-up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from engine.errors import ConfigError, Conflict, RemoteError, UnknownOutcome

from .models import PostResult
from .settings import QadBrowses, QadSettings
from .transport import SYSTEM, QadBusinessError
from .wire import Doc

__all__ = ["Creation", "LookupProof", "Lookups", "create_once", "find_after_unknown", "settle"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LookupProof:
    """Whether one look-up browse can be trusted to find the documents the engine creates."""

    kind: str  # "sales order"
    browse_key: str  # [qad.browses] key of the browse
    column_key: str  # [qad.browses] key of the column it filters on
    field_key: str  # [qad.fields] key of the body field that lands in that column
    settings: QadSettings = field(repr=False)
    state: str = "unproven"
    confirmed: bool = False  # a document created by this process was found by it
    reason: str = ""

    @property
    def proven(self) -> bool:
        return self.state == "proven"

    def keys(self) -> str:
        b, f = self.settings.browses, self.settings.fields
        return (
            f"qad.browses.{self.browse_key} ({getattr(b, self.browse_key)}) filtered on "
            f"qad.browses.{self.column_key} ({getattr(b, self.column_key)}), written through "
            f"qad.fields.{self.field_key} ({getattr(f, self.field_key)})"
        )

    def prove(self, how: str) -> None:
        if self.state != "broken":
            self.state = "proven"
            self.reason = how

    def require_usable(self) -> None:
        """Raise ConfigError before anything is sent when the look-up is known not to work."""
        if self.state == "broken":
            raise ConfigError(
                f"qad {self.kind} look-up cannot be trusted ({self.reason}); "
                f"no {self.kind} is posted until {self.keys()} are fixed (`ml-connector qad "
                "discover`) and the engine restarted: a retry could post a duplicate"
            )

    def cannot_settle(self, reference: str, why: str) -> UnknownOutcome:
        """The error for a create an unproven look-up cannot settle: it stays "unknown", so
        the dispatcher tries again later and never posts it blind. Any other create of the
        kind (never attempted, so nothing to duplicate) proves the look-up on its way; then
        the retry's look-up can be trusted. With nothing to prove it, the command parks
        after the retry budget with this text."""
        return UnknownOutcome(
            f"qad {self.kind} {reference!r}: {why}, and the look-up is not proven yet (its "
            f"browse showed no row at start-up), so 'not found' may mean a wrong browse rather "
            f"than nothing posted; not posted again until a created {self.kind} proves "
            f"{self.keys()} (`ml-connector qad discover`)",
            system=SYSTEM,
        )

    def confirm(self, found: bool, reference: str, document: str = "") -> None:
        """The look-up right after a successful create: found proves it, missing breaks it."""
        if found:
            self.prove(f"found {self.kind} {reference!r} after creating it")
            self.confirmed = True
            return
        self.state = "broken"
        self.reason = (
            f"{self.kind} {document or reference!r} was created with reference {reference!r} "
            "but the look-up right after did not find it"
        )
        log.error("qad %s look-up is broken: %s; check %s", self.kind, self.reason, self.keys())


class Lookups:
    """The proof state of every look-up browse of one client."""

    def __init__(self, settings: QadSettings) -> None:
        def proof(kind: str, browse: str, fld: str) -> LookupProof:
            column = QadBrowses.LOOKUP_COLUMNS[browse]
            return LookupProof(kind, browse, column, fld, settings)

        self.sales_order = proof("sales order", "sales_order", "so_customer_po")
        self.inventory_history = proof(
            "inventory adjustment", "inventory_history", "unplanned_reference"
        )
        self.customer_invoice = proof("customer invoice", "customer_invoice", "invoice_reference")
        self.journal_entry = proof("journal entry", "journal_entry", "journal_reference")

    def by_browse(self) -> dict[str, LookupProof]:
        return {
            p.browse_key: p
            for p in (
                self.sales_order,
                self.inventory_history,
                self.customer_invoice,
                self.journal_entry,
            )
        }


def settle(
    kind: str,
    reference: str,
    found: Doc,
    diffs: list[str],
    *,
    created: bool,
    recovered: bool = False,
) -> PostResult:
    """A found document: the same content is success, different content a Conflict."""
    if diffs:
        raise Conflict(
            f"qad already holds {kind} {found.get('document')} for reference {reference!r} "
            f"with different content: {', '.join(diffs)}",
            system=SYSTEM,
        )
    extra = {"recovered": True} if recovered else {}
    return PostResult(str(found.get("document", "")), created, {**extra, "record": found})


async def find_after_unknown(
    proof: LookupProof,
    reference: str,
    find: Callable[[], Awaitable[Doc | None]],
    exc: UnknownOutcome,
) -> Doc:
    """Settle an unknown outcome by look-up; re-raise it when the document is not there."""
    try:
        found = await find()
    except RemoteError:
        raise exc from None  # the dispatcher retries; its next attempt looks up first
    if found is not None:
        log.info("qad %s %s: found after an unknown outcome", proof.kind, reference)
        proof.prove(f"found {proof.kind} {reference!r} after an unknown outcome")
        return found
    if not proof.proven:
        raise proof.cannot_settle(reference, "the outcome of its post is unknown") from exc
    raise exc


@dataclass(frozen=True, slots=True)
class Creation:
    """One document to create once. ``find`` answers a normalised record with ``document``."""

    kind: str
    reference: str
    proof: LookupProof
    find: Callable[[], Awaitable[Doc | None]]
    diffs: Callable[[Doc], list[str]]
    create: Callable[[], Awaitable[object]]
    after_unknown_outcome: bool = False  # an earlier attempt may already have posted it
    known_unsent: bool = False  # the outbox proves no attempt sent it: no look-up before


async def create_once(c: Creation) -> PostResult:
    """Look up, create if absent, settle unknown outcomes and "already exists" by look-up."""
    c.proof.require_usable()
    found = None if c.known_unsent else await c.find()
    if found is not None:
        return settle(c.kind, c.reference, found, c.diffs(found), created=False)
    if c.after_unknown_outcome and not c.proof.proven:
        raise c.proof.cannot_settle(c.reference, "an earlier attempt's outcome is unknown")
    try:
        await c.create()
    except UnknownOutcome as exc:
        found = await find_after_unknown(c.proof, c.reference, c.find, exc)
        return settle(c.kind, c.reference, found, c.diffs(found), created=True, recovered=True)
    except QadBusinessError as exc:
        if not exc.already_exists:
            raise
        found = await c.find()
        if found is None:
            raise
        return settle(c.kind, c.reference, found, c.diffs(found), created=False)
    # QAD's answer to these creates names no document number: the look-up gives it, and
    # proves (or breaks) the look-up on the way.
    found = await c.find()
    c.proof.confirm(found is not None, c.reference)
    if found is None:
        return PostResult("", True, {"unconfirmed": True})
    return PostResult(str(found.get("document", "")), True, {"record": found})
