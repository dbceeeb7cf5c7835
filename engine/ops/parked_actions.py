"""What an operator does with parked items from the status page: retry one command, retry all
commands parked for one reason, dismiss a command or a parked record with a note.

Retry is ``replay --parked`` / ``--command`` narrowed to a selection: the same ``Outbox.requeue``
(a 'requeued' attempt row) and, when a dispatcher is at hand, the same dispatcher as ``replay
--config`` (``engine.ops.replay.replay_dispatcher``). Who and when land in the audit trail:
the requeue/dismiss row's ``request`` names the operator, its ``at`` is the time. Nothing is
updated or deleted (the outbox tables are append-only).

A dismissed command gets a 'skipped' attempt (finished: later commands of its record may go;
nothing is posted); a dismissed record park gets a resolving row whose reason is the note.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from engine.commands.outbox import AttemptRecord, Outbox, utc_now
from engine.dispatch.dispatcher import RunCounts
from engine.errors import ConfigError
from engine.log import EventLog

__all__ = ["ActionResult", "clean_text", "dismiss_command", "dismiss_record", "retry_parked"]

Dispatch = Callable[[], Awaitable[RunCounts]]
MAX_NOTE = 500


@dataclass(slots=True)
class ActionResult:
    """Re-queued (or dismissed) ids, the dispatch counts (None: left for the next cycle) and
    the re-queued commands that are parked again, with the reason."""

    ids: list[str]
    counts: RunCounts | None = None
    still_parked: list[tuple[str, str]] = field(default_factory=list)


def clean_text(text: str, limit: int = MAX_NOTE) -> str:
    """One line of printable text (an operator's note or name): control characters dropped,
    whitespace folded, cut at ``limit``."""
    kept = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return " ".join(kept.split())[:limit]


async def retry_parked(
    log: EventLog,
    *,
    who: str,
    command_ids: list[str] | None = None,
    reason: str | None = None,
    dispatch: Dispatch | None = None,
) -> ActionResult:
    """Re-queue the parked commands named by ``command_ids``, or all parked for ``reason``
    (exactly that text); then ``dispatch()`` when given. Only commands parked right now are
    touched: a second click on the same button re-queues nothing."""
    if (command_ids is None) == (reason is None):
        raise ValueError("give command_ids or reason")
    outbox = Outbox(log)
    parked = [p for p in await outbox.parked() if p.kind == "command"]
    chosen = [
        p.command_id
        for p in parked
        if (command_ids is not None and p.command_id in command_ids) or p.reason == reason
    ]
    for command_id in chosen:
        await outbox.requeue(command_id, reason=f"retry by {clean_text(who, 120)} (status page)")
    counts = await dispatch() if dispatch is not None and chosen else None
    still = [(p.command_id, p.reason) for p in await outbox.parked() if p.command_id in chosen]
    return ActionResult(chosen, counts, still)


async def dismiss_command(log: EventLog, command_id: str, *, who: str, note: str) -> bool:
    """Finish a parked command without posting it; False when it is not parked (any more)."""
    text = clean_text(note)
    if not text:
        raise ConfigError("a dismissal needs a note (why it is not posted)")
    outbox = Outbox(log)
    if command_id not in {p.command_id for p in await outbox.parked() if p.kind == "command"}:
        return False
    await outbox.record_attempt(
        AttemptRecord(
            command_id=command_id,
            at=utc_now(),
            endpoint="-",
            request=f"dismissed by {clean_text(who, 120)} (status page)",
            response=f"dismissed: {text}",
            outcome="skipped",
        )
    )
    return True


async def dismiss_record(
    log: EventLog, projector: str, record_key: str, *, who: str, note: str
) -> bool:
    """Close a record's open park (e.g. an unmapped SKU the operator will not map) with the
    note as the resolving row's reason; False when no such park is open."""
    text = clean_text(note)
    if not text:
        raise ConfigError("a dismissal needs a note (why it is not posted)")
    outbox = Outbox(log)
    open_parks = [
        p
        for p in await outbox.parked()
        if p.kind == "record" and p.projector == projector and p.record_key == record_key
    ]
    if not open_parks:
        return False
    async with log.transaction() as tx:
        await outbox.resolve_parks(
            tx,
            record_key,
            open_parks[0].position,
            projector,
            reason=f"dismissed by {clean_text(who, 120)}: {text}",
        )
    return True
