"""The outbox's read side: command histories, parks and counts for status, audit and replay.

A mixin of ``Outbox`` so callers keep one object; it only reads (``self.log.query``).
"""

from __future__ import annotations

from typing import Any

from engine.commands.records import (
    ATTEMPT_COLS,
    CMD_COLS,
    NEWEST,
    CommandHistory,
    OutboxCounts,
    ParkedItem,
    attempt_from_row,
    command_from_row,
)
from engine.commands.state_counts import COUNT_FROM_TABLES, FLAGGED_SKIPS
from engine.errors import StoreError
from engine.log.ports import EventLog

__all__ = ["OutboxQueries"]


class OutboxQueries:
    """Read-only queries over the outbox tables (see ``engine.commands.outbox``)."""

    log: EventLog

    async def _newest_with_outcome(self, outcome: str) -> list[tuple[Any, ...]]:
        # Not a done outcome ('parked', ...): only open commands can have it, so the scan starts
        # from open_commands and costs what is open, not every command ever stored (issue 18:
        # status, needs_attention). A file from before open_commands: the full scan.
        if outcome not in ("ok", "exists", "skipped") and await self._has_table("open_commands"):
            return await self.log.query(
                "SELECT c.command_id, c.target, c.record_key, a.response, a.at, c.kind "
                "FROM open_commands oc CROSS JOIN commands c JOIN attempts a ON "
                f"{NEWEST} WHERE c.command_id = oc.command_id AND a.outcome = ? ORDER BY oc.seq",
                (outcome,),
            )
        return await self.log.query(
            "SELECT c.command_id, c.target, c.record_key, a.response, a.at, c.kind "
            f"FROM commands c JOIN attempts a ON {NEWEST} WHERE a.outcome = ? ORDER BY c.seq",
            (outcome,),
        )

    async def get(self, command_id: str) -> CommandHistory | None:
        rows = await self.log.query(
            f"SELECT {CMD_COLS} FROM commands c WHERE c.command_id = ?", (command_id,)
        )
        return (await self._histories(rows))[0] if rows else None

    async def history(self, record_key: str) -> list[CommandHistory]:
        """Every command of one record (seq order) with all its attempts."""
        rows = await self.log.query(
            f"SELECT {CMD_COLS} FROM commands c WHERE c.record_key = ? OR c.reference = ? "
            "ORDER BY c.seq",
            (record_key, record_key),
        )
        return await self._histories(rows)

    async def _histories(self, rows: list[tuple[Any, ...]]) -> list[CommandHistory]:
        out = []
        for row in rows:
            attempts = await self.log.query(
                f"SELECT {ATTEMPT_COLS} FROM attempts WHERE command_id = ? ORDER BY id",
                (row[0],),
            )
            out.append(
                CommandHistory(
                    command=command_from_row(row),
                    seq=row[1],
                    projector=row[9],
                    created_at=row[10],
                    attempts=[attempt_from_row(a) for a in attempts],
                )
            )
        return out

    async def parked(self) -> list[ParkedItem]:
        """Parked commands and open record parks, oldest first."""
        items = [
            ParkedItem(kind="command", command_id=r[0], record_key=r[2], reason=r[3], at=r[4])
            for r in await self._newest_with_outcome("parked")
        ]
        rows = await self.log.query(
            "SELECT p.projector, p.record_key, p.position, p.reason, p.at FROM parked_records p "
            "WHERE p.resolved_by IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM parked_records r WHERE r.resolved_by = p.id) ORDER BY p.id"
        )
        items += [
            ParkedItem(
                kind="record", projector=r[0], record_key=r[1], position=r[2], reason=r[3], at=r[4]
            )
            for r in rows
        ]
        return items

    async def needs_attention(self) -> int:
        """How many things wait for a human: parked commands (newest attempt 'parked') plus
        open record parks (projector parks no later row resolved). The one definition used by
        ``sync --once``'s hint, ``SyncReport.parked_total`` and ``status``'s total."""
        return len(await self.parked())

    async def open_park_keys(self) -> set[str]:
        """Record keys with a park that no later row resolved."""
        return {item.record_key for item in await self.parked() if item.kind == "record"}

    async def record_parks(self, record_key: str) -> list[tuple[str, int, str, str, bool]]:
        """Every park row of one record: (projector, position, reason, at, resolved)."""
        rows = await self.log.query(
            "SELECT p.projector, p.position, p.reason, p.at, EXISTS (SELECT 1 FROM "
            "parked_records r WHERE r.resolved_by = p.id) FROM parked_records p "
            "WHERE p.record_key = ? AND p.resolved_by IS NULL ORDER BY p.id",
            (record_key,),
        )
        return [(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def counts(self) -> OutboxCounts:
        """Commands per target/kind and state; read from the trigger-kept counts
        (engine.commands.state_counts: flat in history), or counted from the tables in an
        outbox no engine with the counts has opened for writing yet."""
        if await self._has_table("command_state_counts"):
            rows = await self.log.query(
                "SELECT target, kind, region, state, n FROM command_state_counts WHERE n > 0"
            )
        else:
            rows = await self.log.query(COUNT_FROM_TABLES)
        by_target: dict[str, dict[str, int]] = {}
        by_kind: dict[str, dict[str, int]] = {}
        by_kind_region: dict[tuple[str, str], dict[str, int]] = {}
        flagged: dict[str, dict[str, int]] = {}
        for target, kind, region, label, n in sorted(rows):
            state = str(label)
            if state in FLAGGED_SKIPS:
                by_state = flagged.setdefault(kind, {})
                by_state[state] = by_state.get(state, 0) + int(n)
                state = "skipped"
            for counts, key in ((by_target, target), (by_kind, kind)):
                one = counts.setdefault(key, {})
                one[state] = one.get(state, 0) + int(n)
            kr = by_kind_region.setdefault((str(kind), str(region)), {})
            kr[state] = kr.get(state, 0) + int(n)
        reasons: dict[str, list[tuple[str, str]]] = {}
        for r in await self._newest_with_outcome("parked"):
            reasons.setdefault(r[1], []).append((r[0], r[3]))
        records: dict[str, list[tuple[str, str]]] = {}
        for item in await self.parked():
            if item.kind == "record":
                records.setdefault(item.projector, []).append((item.record_key, item.reason))
        return OutboxCounts(by_target, by_kind, reasons, records, flagged, by_kind_region)

    async def _has_table(self, name: str) -> bool:
        return name in await self.log.tables()

    async def has_tables(self) -> bool:
        present = {"commands", "attempts", "parked_records"} & await self.log.tables()
        if len(present) not in (0, 3):
            raise StoreError(f"{self.log.label}: outbox tables are incomplete")
        return len(present) == 3
