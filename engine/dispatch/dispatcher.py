"""The dispatcher: posts due outbox commands, records every attempt, never loses one.

``run_once`` claims the due commands (the oldest unfinished one per record, see Outbox.pending),
runs them with bounded concurrency behind the per-target limiters and records one attempt row
per try. It loops until nothing due is left that it has not tried in this call, so a create and
the update queued behind it both go in one call, in order. A failing command only affects its
own record: fatal errors park it with the remote's text, retriable ones get a backoff.

``drain`` is the graceful-shutdown path (arq-style): stop claiming, give in-flight posts until
the deadline, then cancel them; a cancelled post is recorded as 'unknown' (it may have reached
QAD) under ``asyncio.shield`` and the next run looks it up before posting again.

Before a page is sent its send intents are committed (``Outbox.record_intents``); a create whose
(kind, reference) has none and no attempt (``PendingCommand.never_sent``) provably never reached
QAD and, with ``skip_unsent_lookups``, goes without the look-up before create (issue 18).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.commands.outbox import AttemptRecord, Outbox, PendingCommand
from engine.config import DispatchConfig
from engine.dispatch.claims import CommandClaims, SingleProcess
from engine.dispatch.handlers import Handler, Handlers, Outcome
from engine.dispatch.limits import LimiterRegistry
from engine.dispatch.retry import Decision, RetryPolicy, error_text
from engine.log.ports import EventLog
from engine.observe import NULL_OBSERVER, Observer
from engine.security.log_context import log_context_for

__all__ = ["Dispatcher", "RunCounts"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RunCounts:
    """Attempts made by one ``run_once`` call, by outcome."""

    attempted: int = 0
    ok: int = 0
    exists: int = 0
    skipped: int = 0
    retry: int = 0
    unknown: int = 0
    parked: int = 0
    verifying: int = 0  # follow-up checks scheduled again (listing read-backs)

    def add(self, outcome: str) -> None:
        self.attempted += 1
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Posts outbox commands through their handlers (see module doc)."""

    def __init__(
        self,
        log: EventLog,
        outbox: Outbox,
        handlers: Handlers,
        limiters: LimiterRegistry,
        config: DispatchConfig,
        clock: Callable[[], datetime] = _utc_now,
        policy: RetryPolicy | None = None,
        *,
        only_handled: bool = False,
        observer: Observer = NULL_OBSERVER,
        skip_unsent_lookups: bool = False,
        claims: CommandClaims | None = None,
    ) -> None:
        self.log = log
        self.outbox = outbox
        self.handlers = handlers
        self.limiters = limiters
        self.config = config
        self.clock = clock
        self.policy = policy or RetryPolicy(
            base_s=config.retry_base_s, cap_s=config.retry_cap_s, max_attempts=config.max_attempts
        )
        # True: leave commands of kinds without a handler pending (e.g. a replay that only
        # has QAD credentials); False: park them, since nothing will ever perform them.
        self.only_handled = only_handled
        self.observer = observer  # metrics: every attempt's kind, outcome and duration
        # True ([dispatch] lookup_before_create = "unless_unsent"): a create the outbox proves
        # was never sent goes without its look-up. False (the default, and replay
        # --to-tenant, whose outbox file may be new while the target is not): always look up.
        self.skip_unsent_lookups = skip_unsent_lookups
        # Which due commands are ours to post (engine.dispatch.claims): every one, unless
        # other workers dispatch the same PostgreSQL outbox.
        self.claims: CommandClaims = claims or SingleProcess()
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._sem: asyncio.Semaphore | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run_once(self) -> RunCounts:
        """Dispatch everything currently due; returns the attempts made by outcome.

        The backlog is claimed a page at a time (``page_size`` commands, seq order) so memory
        stays flat however many commands are waiting; passes repeat from the start until one
        finds nothing it has not tried in this call (an update queued behind its create only
        becomes due once the create is done).
        """
        counts = RunCounts()
        tried: set[str] = set()
        if self._sem is None:
            self._sem = asyncio.Semaphore(max(1, self.config.concurrency))
        page_size = max(64, 16 * max(1, self.config.concurrency))
        while not self._stopping:
            progressed = False
            cursor = 0
            while not self._stopping:
                page = await self.outbox.pending(limit=page_size, after_seq=cursor)
                if not page:
                    break
                cursor = page[-1].seq
                due = [
                    p
                    for p in page
                    if p.command.command_id not in tried
                    and (not self.only_handled or p.command.kind in self.handlers)
                ]
                if due:
                    # Tried in this call even when another worker holds them: they come back
                    # in the next call, not in a busy loop around that worker's claim.
                    tried.update(p.command.command_id for p in due)
                    async with self.claims.hold(due) as ours:
                        if ours:
                            progressed = True
                            await self._run_page(ours, self._sem, counts, tried)
            if not progressed:
                break
        return counts

    async def _run_page(
        self,
        due: list[PendingCommand],
        sem: asyncio.Semaphore,
        counts: RunCounts,
        tried: set[str],
    ) -> None:
        # The intents of the page are durable before its first byte is sent (see
        # engine.commands.attempt_groups): a kill after this point leaves the pair "may have
        # been sent", so the next run looks it up. Only the first command of a page naming a
        # (kind, reference) may count as never sent: the others could follow it to the remote.
        seen: set[tuple[str, str]] = set()
        for i, item in enumerate(due):
            pair = (item.command.kind, item.command.reference)
            if item.never_sent and pair in seen:
                due[i] = dataclasses.replace(item, never_sent=False)
            seen.add(pair)
        await self.outbox.record_intents([item.command for item in due])
        tasks = []
        for item in due:
            tried.add(item.command.command_id)
            # The command's log lines name its record and kind (engine.security.log_context).
            cmd = item.command
            about = log_context_for(flow="dispatch", record=cmd.record_key, command=cmd.kind)
            task = asyncio.create_task(self._run_one(item, sem, counts), context=about)
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            tasks.append(task)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            # CancelledError: drain cancelled it (recorded as 'unknown' if it had started).
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result  # a store failure: nothing sensible left to do here

    async def run_until_idle(self, timeout_s: float, max_sleep_s: float = 5.0) -> RunCounts:
        """Run, sleeping until the next retry is due, until nothing is waiting (or timeout).

        Parked commands do not count as waiting. Used by ``sync --once`` and tests.
        """
        total = Counter[str]()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while not self._stopping:
            counts = await self.run_once()
            total.update({k: v for k, v in counts.as_dict().items() if v})
            nxt = await self.outbox.next_retry_at()
            if nxt is None and not await self.outbox.pending(limit=1):
                break
            wait = 0.0 if nxt is None else (nxt - self.clock()).total_seconds()
            remaining = end - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(max(wait, 0.0), max_sleep_s, remaining))
        out = RunCounts()
        for k, v in total.items():
            setattr(out, k, v)
        return out

    async def drain(self, deadline: float) -> None:
        """Stop claiming; wait up to ``deadline`` seconds for in-flight posts, then cancel them."""
        self._stopping = True
        pending = set(self._inflight)
        if not pending:
            return
        _done, still = await asyncio.wait(pending, timeout=max(0.0, deadline))
        for task in still:
            task.cancel()
        if still:
            # Each cancelled task records 'unknown' (shielded) before it finishes.
            await asyncio.wait(still)

    # -- one command ----------------------------------------------------------------------------

    async def _run_one(
        self, item: PendingCommand, sem: asyncio.Semaphore, counts: RunCounts
    ) -> None:
        cmd = item.command
        t0 = time.monotonic()  # reset once the limiter lets the post go: its own duration

        def count(outcome: str) -> None:
            counts.add(outcome)
            self.observer.command_attempt(cmd.kind, outcome, time.monotonic() - t0)

        handler = self.handlers.get(cmd.kind)
        if handler is None:
            attempt = self._attempt(item, "-", "-", f"no handler for command kind {cmd.kind!r}")
            await self._record(attempt, "parked")
            count("parked")
            return
        async with sem:
            if self._stopping:
                return  # not started: stays pending for the next run
            request = _safe_summary(handler, cmd)
            started = False
            try:
                await self.limiters.acquire(cmd.target)
                started, t0 = True, time.monotonic()
                outcome = await self._perform(handler, item)
            except asyncio.CancelledError:
                if started:
                    attempt = self._attempt(
                        item, handler.endpoint, request, "cancelled in flight (shutdown)"
                    )
                    count("unknown")
                    await asyncio.shield(self._record(attempt, "unknown", retry_at=self.clock()))
                raise
            except Exception as exc:
                decision = self.policy.decide(item.tries + 1, exc)
                count(decision.outcome)
                await self._record_failure(item, handler, request, decision, exc)
                return
        response = outcome.response
        if item.uncertain:
            response = f"looked up after an unknown outcome: {response}"
        attempt = self._attempt(item, handler.endpoint, request, response, outcome.document)
        count(outcome.outcome)
        log.debug("command %s: %s %s", cmd.command_id, outcome.outcome, outcome.document or "")
        # retry_at: a 'verifying' outcome names when its check is due again (not a failure:
        # no backoff, no attempt limit; run_until_idle does not wait for it).
        await asyncio.shield(self._record(attempt, outcome.outcome, retry_at=outcome.retry_at))

    async def _perform(self, handler: Handler, item: PendingCommand) -> Outcome:
        async with asyncio.timeout(self.config.timeout_s):
            unsent = handler.perform_unsent
            if self.skip_unsent_lookups and item.never_sent and unsent is not None:
                return await unsent(item.command)
            return await handler.perform(item.command, item.uncertain)

    async def _record_failure(
        self,
        item: PendingCommand,
        handler: Handler,
        request: str,
        decision: Decision,
        exc: Exception,
    ) -> None:
        reason = decision.reason
        if isinstance(exc, TimeoutError) and not str(exc):
            reason = f"no answer within {self.config.timeout_s:g}s (outcome unknown)"
        retry_at = None
        if decision.outcome != "parked":
            retry_at = self.clock() + timedelta(seconds=decision.delay_s)
        log.info(
            "command %s attempt %d: %s (%s)",
            item.command.command_id,
            item.tries + 1,
            decision.outcome,
            error_text(exc)[:200],
        )
        attempt = self._attempt(item, handler.endpoint, request, reason)
        await asyncio.shield(self._record(attempt, decision.outcome, retry_at=retry_at))

    def _attempt(
        self,
        item: PendingCommand,
        endpoint: str,
        request: str,
        response: str,
        document: str | None = None,
    ) -> AttemptRecord:
        return AttemptRecord(
            command_id=item.command.command_id,
            at=self.clock(),
            endpoint=endpoint,
            request=request,
            response=response,
            outcome="",
            document=document,
        )

    async def _record(
        self, attempt: AttemptRecord, outcome: str, retry_at: datetime | None = None
    ) -> None:
        await self.outbox.record_attempt(
            AttemptRecord(
                command_id=attempt.command_id,
                at=attempt.at,
                endpoint=attempt.endpoint,
                request=attempt.request,
                response=attempt.response,
                outcome=outcome,
                document=attempt.document,
                retry_at=retry_at,
            )
        )


def _safe_summary(handler: Handler, cmd: object) -> str:
    try:
        return handler.summarize(cmd)  # type: ignore[arg-type]
    except Exception as exc:  # a malformed body must still be recorded and parked, not crash
        return f"(summary unavailable: {type(exc).__name__})"
