"""A freshness sample that fails never costs the attempt rows recorded with it: on PostgreSQL a
failed statement aborts its transaction, so the sample runs under a savepoint (both backends)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from engine.commands.outbox import AttemptRecord, Outbox
from engine.dispatch.freshness import SCHEMA, FreshnessRecorder

from .conftest import ITEMS, add, so_create


async def test_a_failing_sample_keeps_the_attempt(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await outbox.log.ensure_schema(SCHEMA)
    recorder = FreshnessRecorder()

    async def broken(tx, attempts) -> None:  # type: ignore[no-untyped-def]
        await tx.fetchall("SELECT no_such_column FROM commands")

    monkeypatch.setattr(recorder, "_record", broken)
    outbox.after_attempts = recorder
    cmd = so_create("ORD-F1", (ITEMS[0], "1", "9.99"))
    await add(outbox, cmd)
    attempt = AttemptRecord(
        command_id=cmd.command_id, at=datetime.now(UTC), endpoint="-", request="-",
        response="created", outcome="ok", document="SO1",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="engine.dispatch.freshness"):
        await outbox.record_attempt(attempt)
    assert "not recorded" in caplog.text
    (history,) = await outbox.history("ORD-F1")
    assert [a.outcome for a in history.attempts] == ["ok"]  # committed despite the sample
    assert await outbox.pending() == []
