"""Alarms of ``ml-connector run``: a notice when a flow turns Failing (or is refused: Paused,
Disabled-missing-role), when it recovers, and when a command or record is parked.

``watch_alerts(engine)`` runs beside the scheduler (wrapped in ``Engine.run_forever``): every
``[alerts] check_every_s`` it reads the flow states (the shared rule of engine/ops/flow_state.py)
and the parked list from the event log, and queues a ``Notice`` for each change. Channels: a
generic webhook (one JSON POST) and e-mail over SMTP (stdlib ``smtplib`` in a worker thread).
Each channel sends at most one message per ``min_interval_s``; notices that come in between
wait and go together in the next message (batched, never dropped while the engine runs). A
failed send keeps its notices for the next try.

What a notice carries: the flow name and region, the state, counts, the record key (an Amazon
order id, settlement id or SKU) and the recorded reason, redacted (engine/security/redact) and
cut short. Never a payload, a buyer field (names and addresses are sealed in the log and never
read here), a credential or the webhook URL (it may carry a token; logs name the channel only).
Parked items that exist when the engine starts were announced by the process that parked them:
they are taken as known, not sent again; a flow already failing at start is announced.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

import aiohttp
import orjson

from engine import __version__
from engine.commands.outbox import Outbox
from engine.commands.records import ParkedItem
from engine.config.alerts import AlertsConfig
from engine.config.model import Config, PollConfig
from engine.log import EventLog
from engine.ops.flow_state import DISABLED, FAILING, HEALTHY, PAUSED, flow_states
from engine.security.redact import redact
from engine.security.vault import Vault

__all__ = ["AlertSecrets", "Alerter", "Notice", "alert_secrets", "watch_alerts"]

log = logging.getLogger(__name__)

PROBLEM_STATES = (FAILING, PAUSED, DISABLED)
REASON_CHARS = 160  # a notice says what and where; the whole story is in `audit`
WEBHOOK_TIMEOUT_S = 10.0
MAX_LISTED = 50  # notices listed in one message; the rest are counted (a first day of parks)


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # flow_failing | flow_paused | flow_disabled-missing-role | flow_recovered | parked
    flow: str  # poller (orders:NA) or, for parked items, the projector / command kind
    text: str  # one line for people
    at: str  # UTC ISO

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "flow": self.flow, "text": self.text, "at": self.at}


@dataclass(frozen=True, slots=True)
class AlertSecrets:
    """What ``[alerts]`` needs from the vault (``alert_secrets``); empty when unused."""

    webhook_url: str = ""
    smtp_password: str = ""

    def __repr__(self) -> str:
        return "AlertSecrets(***)"


def alert_secrets(cfg: AlertsConfig, vault: Vault) -> AlertSecrets:
    """The webhook URL (``webhook_secret``) and SMTP password (``smtp_user`` set) from the vault;
    a missing secret is a CredentialError before the engine starts, not at the first alarm."""
    url = vault.get_secret(cfg.webhook_secret).value if cfg.webhook_secret else cfg.webhook_url
    password = vault.get_secret(cfg.smtp_password_secret).value if cfg.smtp_user else ""
    return AlertSecrets(webhook_url=url, smtp_password=password)


def _short(text: str) -> str:
    one = redact(" ".join(text.split()))
    return one if len(one) <= REASON_CHARS else one[: REASON_CHARS - 3] + "..."


class _Sender(Protocol):
    name: str

    async def send(self, notices: list[Notice]) -> None: ...


@dataclass(slots=True)
class _Channel:
    sender: _Sender
    pending: list[Notice] = field(default_factory=list)
    last_sent: float | None = None  # on the alerter's clock


class Alerter:
    """Detects changes (``check``) and sends them under the rate limit (``flush``)."""

    def __init__(
        self,
        cfg: AlertsConfig,
        poll: PollConfig,
        secrets: AlertSecrets,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.poll = poll
        self.clock = clock
        self.channels: list[_Channel] = []
        if secrets.webhook_url:
            if session is None:
                raise ValueError("a webhook channel needs an aiohttp session")
            self.channels.append(_Channel(_Webhook(session, secrets.webhook_url)))
        if cfg.smtp_host:
            self.channels.append(_Channel(_Mail(cfg, secrets.smtp_password)))
        self._states: dict[str, str] = {}
        self._parked: set[str] | None = None  # None until the first check (then: known)

    async def check(self, log_: EventLog, now: datetime | None = None) -> list[Notice]:
        """Queue a notice per change since the last check; then send what the limit allows."""
        at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        notices = [*await self._flow_notices(log_, now, at), *await self._parked_notices(log_, at)]
        for ch in self.channels:
            ch.pending.extend(notices)
        await self.flush()
        return notices

    async def _flow_notices(self, log_: EventLog, now: datetime | None, at: str) -> list[Notice]:
        out = []
        for row in await flow_states(log_, self.poll, now):
            before = self._states.get(row.flow)
            self._states[row.flow] = row.state
            if row.state == before:
                continue
            if row.state in PROBLEM_STATES:
                why = f": {_short(row.reason)}" if row.reason else ""
                age = "never" if row.age_s is None else f"{row.age_s / 60:.0f} min ago"
                role = f"; probably missing SP-API role '{row.role}'" if row.role else ""
                text = f"{row.flow} is {row.label} (last successful poll {age}){why}{role}"
                out.append(Notice(f"flow_{row.state}", row.flow, text, at))
            elif row.state == HEALTHY and before in PROBLEM_STATES:
                out.append(Notice("flow_recovered", row.flow, f"{row.flow} works again", at))
        return out

    async def _parked_notices(self, log_: EventLog, at: str) -> list[Notice]:
        outbox = Outbox(log_)
        items = await outbox.parked() if await outbox.has_tables() else []
        keys = {_key(i): i for i in items}
        known, self._parked = self._parked, set(keys)
        if known is None:
            return []  # parked before this process started: announced by the one that parked
        out = []
        for key, item in keys.items():
            if key in known:
                continue
            where = item.projector if item.kind == "record" else item.command_id.split(":")[0]
            what = "record" if item.kind == "record" else "command"
            text = f"parked {what} {item.record_key} ({where}): {_short(item.reason)}"
            out.append(Notice("parked", where, text, at))
        return out

    async def flush(self) -> int:
        """Send each channel's pending notices if its interval has passed; returns how many
        messages went out. A failure is logged (channel name only) and retried next time."""
        sent = 0
        for ch in self.channels:
            t = self.clock()
            if not ch.pending:
                continue
            if ch.last_sent is not None and t - ch.last_sent < self.cfg.min_interval_s:
                continue  # rate limit: batched into the next message
            batch = list(ch.pending)
            try:
                await ch.sender.send(batch)
            except Exception as exc:  # a notice must never stop the engine
                log.warning(
                    "alert via %s failed (%d notice(s) kept for the next try): %s",
                    ch.sender.name,
                    len(batch),
                    redact(f"{type(exc).__name__}: {exc}")[:200],
                )
                ch.last_sent = t  # wait the interval before trying again, too
                continue
            del ch.pending[: len(batch)]
            ch.last_sent = t
            sent += 1
        return sent


def _key(item: ParkedItem) -> str:
    if item.kind == "command":
        return f"command:{item.command_id}"
    return f"record:{item.projector}:{item.record_key}:{item.position}"


def _summary(notices: list[Notice]) -> str:
    kinds = sorted({n.kind for n in notices})
    return f"ml-connector: {len(notices)} alert(s) ({', '.join(kinds)})"


def payload(notices: list[Notice]) -> dict[str, Any]:
    """The webhook's JSON body (also the mail's content, as text)."""
    return {
        "source": "ml-connector",
        "version": __version__,
        "summary": _summary(notices),
        "notices": [n.as_json() for n in notices[:MAX_LISTED]],
        "more": max(0, len(notices) - MAX_LISTED),
    }


class _Webhook:
    name = "webhook"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url

    async def send(self, notices: list[Notice]) -> None:
        async with self._session.post(
            self._url,
            data=orjson.dumps(payload(notices)),
            headers={"Content-Type": "application/json", "User-Agent": "ml-connector"},
            timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
            allow_redirects=False,  # the notice goes to the configured host only
        ) as resp:
            await resp.read()
            if not 200 <= resp.status < 300:
                raise RuntimeError(f"webhook answered HTTP {resp.status}")


class _Mail:
    name = "smtp"

    def __init__(self, cfg: AlertsConfig, password: str) -> None:
        self._cfg = cfg
        self._password = password

    async def send(self, notices: list[Notice]) -> None:
        msg = EmailMessage()
        msg["Subject"] = _summary(notices)
        msg["From"] = self._cfg.mail_from
        msg["To"] = ", ".join(self._cfg.mail_to)
        lines = [f"{n.at}  {n.kind:<18} {n.text}" for n in notices[:MAX_LISTED]]
        if len(notices) > MAX_LISTED:
            lines.append(f"... and {len(notices) - MAX_LISTED} more (see `ml-connector status`)")
        msg.set_content("\n".join([*lines, "", "Details: ml-connector status / audit."]) + "\n")
        await asyncio.to_thread(self._deliver, msg)  # smtplib blocks: keep the loop free

    def _deliver(self, msg: EmailMessage) -> None:
        c = self._cfg
        tls = ssl.create_default_context()
        smtp: smtplib.SMTP
        if c.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_s, context=tls)
        else:
            smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_s)
        with smtp:
            if c.smtp_security == "starttls":
                smtp.starttls(context=tls)
            if c.smtp_user:
                smtp.login(c.smtp_user, self._password)
            smtp.send_message(msg)


class _Watched(Protocol):
    """What ``watch_alerts`` needs of the engine (``engine.ops.engine.Engine``)."""

    cfg: Config
    alert_secrets: AlertSecrets

    # Read-only, so an engine holding any backend (an ``EventLog``, or the SQLite class
    # itself) matches: a plain attribute member would have to be exactly this type.
    @property
    def log(self) -> EventLog: ...

    @property
    def stop_event(self) -> asyncio.Event: ...


@asynccontextmanager
async def watch_alerts(engine: _Watched) -> AsyncIterator[Alerter | None]:
    """Check for alarms every ``check_every_s`` while the block runs (nothing when ``[alerts]``
    names no channel)."""
    cfg = engine.cfg.alerts
    if not cfg.enabled:
        yield None
        return
    async with aiohttp.ClientSession() as session:
        alerter = Alerter(cfg, engine.cfg.poll, engine.alert_secrets, session=session)

        async def loop() -> None:
            while not engine.stop_event.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(engine.stop_event.wait(), cfg.check_every_s)
                try:
                    await alerter.check(engine.log)
                except Exception as exc:  # the store busy, a bug: alarms must not stop syncing
                    log.warning("alert check failed: %s", redact(str(exc))[:200])

        # The first look before any poll: what is parked now is known, not news (module doc).
        try:
            await alerter.check(engine.log)
        except Exception as exc:  # as in the loop: logged, the next check primes instead
            log.warning("alert check failed: %s", redact(str(exc))[:200])
        task = asyncio.create_task(loop())
        try:
            yield alerter
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
