"""Replay the whole event log into another (fresh) QAD entity, then prove the books match.

``replay --to-tenant URL --entity E`` (engine/cli/replay.py) is the thin front of this module:

1. ``iter_qad_commands``: every QAD command re-derived from the log from position 0 with the
   pure projectors (as ``rebuild`` does: streamed, state in a scratch database, no side
   effects). Listing patches are not
   replayed: they target Amazon, not the QAD entity.
2. ``seed``: those commands go into the replay's OWN outbox (``replay_outbox``): beside an
   SQLite log a sibling file, ``<db>.replay-<key>.sqlite``; with a PostgreSQL log a schema of
   the same database, ``<namespace or mlc>_replay_<key>`` (a log of its own, as a partition is),
   so the original outbox and audit trail are never touched. Command ids
   are deterministic, so seeding again adds nothing: an interrupted replay resumes where it
   stopped, a finished one posts nothing when rerun (and the QAD client looks a reference up
   before creating, so even a lost replay file cannot duplicate a document).
3. The ordinary Dispatcher posts them to the target with that outbox (retries, parking, audit
   trail of the replay in the replay file). A rerun re-queues what the previous run parked.
4. ``verify`` (in ``replay_verify``): for every document the ORIGINAL run posted successfully
   (per its outbox), the expected content (sales order create folded with its applied updates,
   invoice, journal, the last stock alignment per item/site) is compared with what the target
   holds for the same reference: ok / missing / different per reference kind.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.commands.outbox import DONE_OUTCOMES, Outbox
from engine.commands.vocabulary import Command
from engine.config.database import is_postgresql_url, partition_namespace, split_partition
from engine.dispatch.dispatcher import Dispatcher, RunCounts
from engine.errors import ConfigError, StoreError
from engine.log.ports import EventLog
from engine.log.scratch import Scratch
from engine.ops.replay_verify import (
    KINDS,
    Expected,
    KindResult,
    TargetPort,
    VerifyReport,
    expected_documents,
    verify,
    verify_log,
)
from engine.projectors.base import Projector
from engine.projectors.derive import derive_batches
from engine.security.urls import validate_entity_path, validate_tenant_url

__all__ = [
    "KINDS",
    "Expected",
    "KindResult",
    "ReplayOutbox",
    "ReplayResult",
    "ReplayTarget",
    "TargetPort",
    "VerifyReport",
    "derive_qad_commands",
    "expected_documents",
    "iter_qad_commands",
    "log_label",
    "replay_outbox",
    "replay_outbox_path",
    "replay_to_target",
    "seed",
    "seed_from_log",
    "verify",
]

_ENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,39}$")

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ReplayTarget:
    """A validated target: tenant URL (same rules as qad.tenant_url) and entity code."""

    tenant_url: str
    entity: str

    @classmethod
    def parse(cls, tenant_url: str, entity: str) -> ReplayTarget:
        url = validate_tenant_url(tenant_url, what="--to-tenant")
        # An entity code ends up in request bodies, never in a path, but the same rules keep
        # traversal/control characters out; QAD entity codes are short alphanumeric codes.
        validate_entity_path(entity, what="--entity")
        if not _ENTITY.match(entity):
            raise ConfigError(
                f"--entity {entity!r} is not a QAD entity code (letters, digits, '.', '_', '-')"
            )
        return cls(url, entity)

    @property
    def key(self) -> str:
        """Short stable hash naming this target's replay outbox."""
        return hashlib.blake2b(
            f"{self.tenant_url}\n{self.entity}".encode(), digest_size=5
        ).hexdigest()


def replay_outbox_path(db: Path, target: ReplayTarget) -> Path:
    """``<db>.replay-<hash of url+entity>.sqlite``: one resumable outbox per target."""
    return db.with_name(f"{db.name}.replay-{target.key}.sqlite")


@dataclass(frozen=True, slots=True)
class ReplayOutbox:
    """Where the replay into one target keeps its outbox: what ``open_event_log`` opens
    (``target``, ``namespace``) and, for messages, ``where`` (never a DSN's password)."""

    target: str | Path
    namespace: str | None
    where: str


def replay_outbox(
    source: str | Path, target: ReplayTarget, *, namespace: str | None = None
) -> ReplayOutbox:
    """The replay outbox of ``source`` (the log, in schema ``namespace`` on PostgreSQL) for
    ``target``: the same name on every run, so a rerun resumes. An SQLite log gets the sibling
    file (``replay_outbox_path``); a PostgreSQL log a schema in its own database, named after
    the log's schema (``mlc`` for a log in the default one) so that the replays of two
    partitions never share one."""
    if not is_postgresql_url(source):
        if namespace is not None:  # a programming error: an SQLite log is its own file
            raise StoreError(f"event log {source} is an SQLite file: it has no schemas")
        path = replay_outbox_path(Path(source), target)
        return ReplayOutbox(path, None, str(path))
    source, partition = split_partition(source)  # a partition's log: ...#partition
    namespace = namespace or partition_namespace(source, partition)
    check_namespace, _ = _postgres_names()
    name = f"{namespace or 'mlc'}_replay_{target.key}"
    try:
        check_namespace(name)
    except StoreError as exc:  # e.g. a log schema too long to carry the suffix
        raise StoreError(f"the replay outbox of {log_label(source, namespace)}: {exc}") from None
    return ReplayOutbox(str(source), name, log_label(source, name))


def log_label(source: str | Path, namespace: str | None = None) -> str:
    """``source`` for messages before it is opened: an SQLite path as it is, a PostgreSQL URL
    without user or password and with its schema (what the opened log's ``label`` says)."""
    if not is_postgresql_url(source):
        return str(source)
    _, safe_label = _postgres_names()
    base, partition = split_partition(source)
    namespace = namespace or partition_namespace(base, partition)
    return safe_label(base) + (f" (schema {namespace})" if namespace else "")


def _postgres_names() -> tuple[Callable[[str], str], Callable[[str], str]]:
    """engine.log.postgres's name checks, imported only for a PostgreSQL URL: psycopg is the
    optional extra, and an SQLite deployment never needs it."""
    try:
        from engine.log.postgres import check_namespace, safe_label
    except ImportError as exc:
        raise StoreError(
            "the event log is a PostgreSQL URL but psycopg is not installed: "
            "pip install 'ml-connector[postgresql]'"
        ) from exc
    return check_namespace, safe_label


# -- derive + seed ------------------------------------------------------------------------------


async def iter_qad_commands(
    log: EventLog, projectors: Sequence[Projector], scratch: Scratch
) -> AsyncIterator[list[tuple[str, Command]]]:
    """(projector name, command) of every QAD command the log derives from position 0, one
    batch of events at a time; the projectors' state lives in ``scratch`` (memory stays flat
    in the log's size)."""
    for projector in projectors:
        async for batch in derive_batches(log, projector, scratch):
            found = [
                (projector.name, c)
                for _event, proj in batch
                for c in proj.commands
                if c.kind.startswith("qad.")
            ]
            if found:
                yield found


async def derive_qad_commands(
    log: EventLog, projectors: Sequence[Projector]
) -> list[tuple[str, Command]]:
    """All of ``iter_qad_commands`` in one list (small logs, tests)."""
    with Scratch() as scratch:
        return [
            pair async for batch in iter_qad_commands(log, projectors, scratch) for pair in batch
        ]


async def seed(replay_log: EventLog, derived: Iterable[tuple[str, Command]]) -> int:
    """Add the derived commands to the replay outbox; returns how many were new."""
    outbox = Outbox(replay_log)
    await outbox.ensure()
    added = 0
    async with replay_log.transaction() as tx:
        for name, cmd in derived:
            added += await outbox.add_commands(tx, [cmd], name)
    return added


async def seed_from_log(
    source: EventLog, replay_log: EventLog, projectors: Sequence[Projector]
) -> int:
    """Derive and seed as a stream: each batch's commands commit in their own transaction, in
    derivation order (an interrupted seed is completed by the rerun: ids are deterministic)."""
    added = 0
    with Scratch() as scratch:
        async for batch in iter_qad_commands(source, projectors, scratch):
            added += await seed(replay_log, batch)
    return added


# -- the whole replay ------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayResult:
    outbox: str  # where the replay outbox is (the replay log's label)
    derived: int
    added: int
    dispatched: RunCounts
    waiting: int  # commands not finished when dispatching stopped (rerun to resume)
    parked: list[tuple[str, str]]  # (command id, reason) in the replay outbox
    report: VerifyReport


async def replay_to_target(
    source: EventLog,
    replay_log: EventLog,
    projectors: Sequence[Projector],
    make_dispatcher: Callable[[Outbox], Dispatcher],
    target: TargetPort,
    *,
    timeout_s: float,
    concurrency: int = 4,
    before_request: Callable[[], Any] | None = None,
    progress: Progress | None = None,
    progress_every_s: float = 2.0,
) -> ReplayResult:
    """Derive, seed, dispatch (resumable) and verify; see the module doc."""
    say = progress or (lambda _msg: None)
    added = await seed_from_log(source, replay_log, projectors)
    outbox = Outbox(replay_log)
    # Every command of the replay outbox is a derived QAD command (only seeding writes it), so
    # its count is the distinct derived commands without a set of every id in memory.
    total = int((await replay_log.query("SELECT count(*) FROM commands"))[0][0])
    say(f"derived {total} QAD commands from the log; {added} new in {replay_log.label}")
    # Rerunning a replay means "finish the job": what the target refused last time is tried
    # again (the replay file keeps the refused attempts; the original's trail is untouched).
    requeued = await outbox.requeue_parked("replay --to-tenant: rerun")
    if requeued:
        say(f"re-queued {len(requeued)} command(s) parked by the previous run")

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(progress_every_s)
            st = await _states(outbox)
            say(f"dispatched {st['done']}/{total} (parked {st['parked']})")

    ticker = asyncio.create_task(report_progress()) if progress else None
    try:
        counts = await make_dispatcher(outbox).run_until_idle(timeout_s)
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
    st = await _states(outbox)
    say(f"dispatched {st['done']}/{total}; verifying against the original's documents")
    parked = [(p.command_id, p.reason) for p in await outbox.parked() if p.kind == "command"]
    report = await verify_log(
        source, target, concurrency=concurrency, before_request=before_request
    )
    return ReplayResult(
        outbox=replay_log.label,
        derived=total,
        added=added,
        dispatched=counts,
        waiting=st["waiting"],
        parked=parked,
        report=report,
    )


async def _states(outbox: Outbox) -> dict[str, int]:
    """Replay outbox commands by state: done (ok/exists/skipped), parked, waiting."""
    out = {"done": 0, "parked": 0, "waiting": 0}
    for by_state in (await outbox.counts()).by_target.values():
        for outcome, n in by_state.items():
            key = (
                "done"
                if outcome in DONE_OUTCOMES
                else "parked"
                if outcome == "parked"
                else "waiting"
            )
            out[key] += n
    return out
