"""Command counts per (target, kind, region, state), kept by triggers beside the append-only tables.

A command's state is the outcome of its newest attempt ("new" with none). Counting states from
the tables joins every command ever stored with its newest attempt: ``status`` and every
``/metrics`` scrape took 818 ms at 100k commands and 18 s at 1M (issue 18: idle cost must not
grow with history). The triggers below move one count per written row, inside the statement that
writes it, so the counts cannot drift from the tables whoever writes them (dispatcher, replay,
requeue) and a crash cannot leave one without the other.

Two extra states: a skipped command whose response starts with "drift" (an inventory
adjustment reporting drift) counts as ``skipped:drift``, one whose response starts with "not
applied" (a listing patch Amazon accepted but did not apply) as ``skipped:not-applied``, so
``status`` shows both without scanning attempts; ``counts`` folds them back into "skipped".
The dispatch handlers write their responses with these prefixes.
"""

from __future__ import annotations

from engine.log.schema import region_of_source_sql

__all__ = [
    "COUNT_FROM_TABLES",
    "DRIFT_PREFIX",
    "FLAGGED_SKIPS",
    "NOT_APPLIED_PREFIX",
    "STATE_COUNTS_CREATE",
    "STATE_COUNTS_TRIGGERS",
    "command_region_sql",
    "state_label_sql",
]

DRIFT_PREFIX = "drift"
NOT_APPLIED_PREFIX = "not applied"
# counted state -> response prefix of a skipped attempt (see module doc)
FLAGGED_SKIPS = {"skipped:drift": DRIFT_PREFIX, "skipped:not-applied": NOT_APPLIED_PREFIX}


def state_label_sql(a: str) -> str:
    """SQL: the state the attempt row aliased ``a`` puts its command in (NULL: no attempt)."""
    cases = " ".join(
        f"WHEN {a}.outcome = 'skipped' AND {a}.response LIKE '{prefix}%' THEN '{state}'"
        for state, prefix in FLAGGED_SKIPS.items()
    )
    return f"CASE {cases} ELSE {a}.outcome END"


_LABEL = state_label_sql


def command_region_sql(c: str) -> str:
    """SQL: the region of the command row aliased ``c``: that of the first event it came from
    (engine.log.schema.region_of_source_sql), '' when it names none."""
    return (
        f"coalesce((SELECT {region_of_source_sql('e.source')} FROM events e "
        f"WHERE e.position = json_extract({c}.positions, '$[0]')), '')"
    )


STATE_COUNTS_TRIGGERS = f"""
CREATE TRIGGER IF NOT EXISTS commands_count_new AFTER INSERT ON commands
BEGIN
    INSERT INTO command_state_counts (target, kind, region, state, n)
    VALUES (NEW.target, NEW.kind, {command_region_sql("NEW")}, 'new', 1)
    ON CONFLICT (target, kind, region, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS attempts_count_state AFTER INSERT ON attempts
BEGIN
    UPDATE command_state_counts SET n = n - 1
    WHERE (target, kind, region) = (
          SELECT c.target, c.kind, {command_region_sql("c")} FROM commands c
          WHERE c.command_id = NEW.command_id)
      AND state = coalesce(
          (SELECT {_LABEL("p")} FROM attempts p
           WHERE p.command_id = NEW.command_id AND p.id < NEW.id ORDER BY p.id DESC LIMIT 1),
          'new');
    INSERT INTO command_state_counts (target, kind, region, state, n)
    SELECT c.target, c.kind, {command_region_sql("c")}, {_LABEL("NEW")}, 1 FROM commands c
    WHERE c.command_id = NEW.command_id
    ON CONFLICT (target, kind, region, state) DO UPDATE SET n = n + 1;
END;
"""

# Counting from the tables: an outbox from before the counts (filled once, below) and a
# read-only look at one (engine.commands.queries).
COUNT_FROM_TABLES = f"""
SELECT c.target, c.kind, {command_region_sql("c")}, coalesce({_LABEL("a")}, 'new'), count(*)
FROM commands c LEFT JOIN attempts a
  ON a.id = (SELECT max(id) FROM attempts WHERE command_id = c.command_id)
GROUP BY 1, 2, 3, 4
"""

# Creating the counts on an outbox that has history: the table, its history counted once, and
# the triggers, in one transaction, so no write can fall between the count and the triggers.
STATE_COUNTS_CREATE = f"""
BEGIN IMMEDIATE;
CREATE TABLE command_state_counts (
    target  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    region  TEXT NOT NULL,
    state   TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (target, kind, region, state)
) WITHOUT ROWID;
INSERT INTO command_state_counts (target, kind, region, state, n) {COUNT_FROM_TABLES};
{STATE_COUNTS_TRIGGERS}
COMMIT;
"""
