"""The outbox's guards and state-count triggers in PostgreSQL's own form (PL/pgSQL).

SQLite's trigger bodies (engine.commands.outbox ``_GUARDS``, engine.commands.state_counts) are
not translatable statement by statement, so PostgreSQL gets the same rules written for it:

- UPDATE, DELETE and TRUNCATE are refused on commands, attempts and parked_records
  (statement-level, so they fire even when no row matches, as the event log's own guards);
- ``command_state_counts`` moves one count per inserted command or attempt, in the inserting
  statement's transaction, with the same labels and regions as on SQLite (the expressions are
  the SQLite ones through ``postgres_sql.translate_ddl``).

Everything is idempotent (CREATE OR REPLACE FUNCTION, triggers re-created only when missing) and
runs inside ``ensure_schema``'s transaction under its advisory lock, so engines starting together
create it once.
"""

from __future__ import annotations

from engine.commands.state_counts import COUNT_FROM_TABLES, command_region_sql, state_label_sql
from engine.log.postgres_sql import translate_ddl

__all__ = ["PG_GUARDS", "PG_STATE_COUNTS"]

_TABLES = ("commands", "attempts", "parked_records")


def _create_trigger(name: str, table: str, when: str, level: str, function: str) -> str:
    # CREATE TRIGGER has no IF NOT EXISTS before PostgreSQL 14's OR REPLACE; check the catalog.
    return f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{name}'
                   AND tgrelid = '{table}'::regclass) THEN
        CREATE TRIGGER {name} {when} ON {table} FOR EACH {level} EXECUTE FUNCTION {function}();
    END IF;
END $$;"""


PG_GUARDS = """
CREATE OR REPLACE FUNCTION ml_outbox_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$;""" + "".join(
    _create_trigger(
        f"{table}_no_change",
        table,
        "BEFORE UPDATE OR DELETE OR TRUNCATE",
        "STATEMENT",
        "ml_outbox_append_only",
    )
    for table in _TABLES
)

_COUNTS_TABLE = """
CREATE TABLE IF NOT EXISTS command_state_counts (
    target  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    region  TEXT NOT NULL,
    state   TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (target, kind, region, state)
);"""

_FUNCTIONS = translate_ddl(
    f"""
CREATE OR REPLACE FUNCTION ml_commands_count_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO command_state_counts (target, kind, region, state, n)
    VALUES (NEW.target, NEW.kind, {command_region_sql("NEW")}, 'new', 1)
    ON CONFLICT (target, kind, region, state) DO UPDATE SET n = command_state_counts.n + 1;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION ml_attempts_count_state() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c_target TEXT;
    c_kind   TEXT;
    c_region TEXT;
    previous TEXT;
BEGIN
    SELECT c.target, c.kind, {command_region_sql("c")} INTO c_target, c_kind, c_region
    FROM commands c WHERE c.command_id = NEW.command_id;
    SELECT {state_label_sql("p")} INTO previous FROM attempts p
    WHERE p.command_id = NEW.command_id AND p.id < NEW.id ORDER BY p.id DESC LIMIT 1;
    UPDATE command_state_counts SET n = n - 1
    WHERE target = c_target AND kind = c_kind AND region = c_region
      AND state = coalesce(previous, 'new');
    INSERT INTO command_state_counts (target, kind, region, state, n)
    VALUES (c_target, c_kind, c_region, {state_label_sql("NEW")}, 1)
    ON CONFLICT (target, kind, region, state) DO UPDATE SET n = command_state_counts.n + 1;
    RETURN NULL;
END $$;"""
)

_TRIGGERS = (
    _FUNCTIONS
    + _create_trigger(
        "commands_count_new", "commands", "AFTER INSERT", "ROW", "ml_commands_count_new"
    )
    + _create_trigger(
        "attempts_count_state", "attempts", "AFTER INSERT", "ROW", "ml_attempts_count_state"
    )
)
# The counts table, its history counted once when it is new, then the triggers: in one
# transaction under ensure_schema's advisory lock, so no write falls between the count and the
# triggers, and engines starting together count once (the second finds the table).
PG_STATE_COUNTS = (
    f"""
DO $$ BEGIN
    IF to_regclass('command_state_counts') IS NULL THEN
        {_COUNTS_TABLE.strip()}
        INSERT INTO command_state_counts (target, kind, region, state, n)
        {translate_ddl(COUNT_FROM_TABLES).strip()};
    END IF;
END $$;"""
    + _TRIGGERS
)
