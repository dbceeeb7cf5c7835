"""Amazon listing commands: the patch (read-modify-write) and its later verification.

The catalog projector derives two commands per listing change, in this order and under the
same record key (the SKU): ``amazon.listing.patch`` and ``amazon.listing.verify``. The outbox
makes a record's commands due one after the other, so the verification becomes due once the
patch is done, and the SKU's next change waits until this one is verified or flagged. Both are
in the outbox from the start, so a crash between patch and verification loses neither, and the
patch, once recorded 'ok', is never sent again.

- patch: reads the listing, sends only the sub-fields QAD owns (engine/adapters/amazon/
  listing_plan.py) and returns at once: 'ok' with the submissionId as document, Amazon's
  WARNING issues in the response. An INVALID status or an ERROR issue parks it with Amazon's
  text. Nothing left to change: 'skipped'.
- verify: reads the listing back on the dispatcher's clock: first ``[listings] verify_first_s``
  after the patch was accepted, then each time after as long again as has passed (a doubling
  backoff) until ``verify_window_s``. Each wait is a 'verifying' attempt with ``retry_at``:
  pending, not a failure, and ``sync --once`` does not wait for it (the next sync or ``run``
  pass checks again). Applied: 'ok'. Still not applied at the end of the window: 'skipped' with
  a response starting "not applied" (counted in ``status``, visible in ``audit``), never
  re-sent: Amazon accepted it, so sending it again would only queue the same submission.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from engine.adapters.amazon.listings import Check, PatchReport
from engine.commands.records import CommandHistory
from engine.commands.state_counts import NOT_APPLIED_PREFIX
from engine.commands.vocabulary import Command
from engine.config.listings import ListingsConfig
from engine.dispatch.handlers import Handler, Outcome
from engine.errors import RetriableRemoteError

__all__ = [
    "NOT_APPLIED",
    "PATCH_KIND",
    "VERIFY_KIND",
    "ListingsPort",
    "listing_handlers",
]

PATCH_KIND = "amazon.listing.patch"
VERIFY_KIND = "amazon.listing.verify"
NOT_APPLIED = NOT_APPLIED_PREFIX  # response prefix of a flagged verification (status counts it)
_ENDPOINT = "/listings/2021-08-01/items/{sellerId}/{sku}"


class ListingsPort(Protocol):
    """``engine.adapters.amazon.listings.ListingsAdapter`` as the handlers use it."""

    async def patch_listing(
        self, region: str, marketplace_id: str, sku: str, changes: Mapping[str, Any]
    ) -> PatchReport: ...

    async def check_listing(
        self, region: str, marketplace_id: str, sku: str, changes: Mapping[str, Any]
    ) -> Check: ...


History = Callable[[str], Awaitable[CommandHistory | None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def listing_handlers(
    port: ListingsPort,
    history: History,
    cfg: ListingsConfig | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> dict[str, Handler]:
    """Handlers for both listing kinds; ``history`` is ``Outbox.get`` (the verification reads
    when and under which submissionId its patch was accepted); ``clock`` the dispatcher's."""
    conf = cfg or ListingsConfig()

    async def patch(cmd: Command, uncertain: bool) -> Outcome:
        b = cmd.body
        where = f"listing {b['marketplace_id']}:{b['sku']}"
        # Read-modify-write: after an uncertain earlier attempt the read shows whether it was
        # applied already (then nothing is left to send); re-sending the same values is harmless.
        report = await port.patch_listing(
            str(b["region"]), str(b["marketplace_id"]), str(b["sku"]), dict(b["changes"])
        )
        notes = "".join(f"; {n}" for n in report.notes)
        if not report.submission_id:
            return Outcome("skipped", f"{where}: nothing to change{notes}")
        warnings = "".join(f"; {w}" for w in report.warnings)
        return Outcome(
            "ok",
            f"{where}: ACCEPTED {report.submission_id} ({report.request}): "
            f"{', '.join(report.changed)}{notes}{warnings}",
            report.submission_id,
        )

    async def verify(cmd: Command, uncertain: bool) -> Outcome:
        b = cmd.body
        where = f"listing {b['marketplace_id']}:{b['sku']}"
        sent = await history(str(b["patch"]))
        last = sent.attempts[-1] if sent is not None and sent.attempts else None
        if last is None or last.outcome != "ok":
            state = last.outcome if last is not None else "missing"
            return Outcome("skipped", f"{where}: nothing was sent to verify (patch {state})")
        submission = last.document or "?"
        window = conf.verify_window_s
        first = min(conf.verify_first_s, window)
        now = clock()
        elapsed = (now - last.at).total_seconds()
        if elapsed < first:
            due = last.at + timedelta(seconds=first)
            return Outcome(
                "verifying", f"{where}: submission {submission} read back at {_t(due)}", None, due
            )
        try:
            check = await port.check_listing(
                str(b["region"]), str(b["marketplace_id"]), str(b["sku"]), dict(b["changes"])
            )
            still, errors = check.pending, check.listing_errors
        except RetriableRemoteError as exc:  # a failed read is one more unverified look
            still, errors = [f"(read failed: {type(exc).__name__}: {exc})"], []
        if not still:
            return Outcome(
                "ok", f"{where}: submission {submission} applied ({elapsed:.0f}s)", submission
            )
        listing = "".join(f"; listing issue {e}" for e in errors)
        if elapsed >= window:
            return Outcome(
                "skipped",
                f"{NOT_APPLIED}: {where}: Amazon accepted submission {submission} at "
                f"{_t(last.at)} but after {window:g}s the listing still differs in "
                f"{', '.join(still)}{listing}; not re-sent (check the listing in Seller "
                "Central; `replay --command` on this command checks it again)",
                submission,
            )
        due = min(now + timedelta(seconds=max(first, elapsed)), last.at + timedelta(seconds=window))
        return Outcome(
            "verifying",
            f"{where}: submission {submission} not visible yet ({', '.join(still)}{listing}); "
            f"read back again at {_t(due)}",
            None,
            due,
        )

    return {
        PATCH_KIND: Handler(f"GET+PATCH {_ENDPOINT}", _patch_summary, patch),
        VERIFY_KIND: Handler(f"GET {_ENDPOINT}", _verify_summary, verify),
    }


def _t(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds")


def _patch_summary(cmd: Command) -> str:
    b = cmd.body
    changes = b.get("changes", {})
    return (
        f"listing patch {b.get('marketplace_id')}:{b.get('sku')} item={b.get('item_code')} "
        f"fields={','.join(sorted(changes))}"
    )


def _verify_summary(cmd: Command) -> str:
    b = cmd.body
    return f"listing verify {b.get('marketplace_id')}:{b.get('sku')} of {b.get('patch')}"
