"""The ``pii_keys`` side table: its DDL and the statements both backends run on it.

Written in SQLite's dialect; on PostgreSQL they pass through ``engine.log.postgres_sql``'s
translation (``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``, ``BLOB`` ``BYTEA``). Kept
apart so the SQLite stores (``pii_keys``) and the PostgreSQL ones (``pii_keys_postgres``) share
one definition without importing each other.
"""

from __future__ import annotations

__all__ = ["INSERT", "LIVE", "PURGE", "RECORD_DATE", "SCHEMA", "SELECT_WRAPPED", "UPDATE_WRAPPED"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS pii_keys (
    key_id     TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    wrapped    BLOB,
    record_date TEXT
);
CREATE INDEX IF NOT EXISTS pii_keys_created ON pii_keys (created_at);
"""
# Older logs get the column; their rows keep NULL and age from created_at.
RECORD_DATE = "ALTER TABLE pii_keys ADD COLUMN record_date TEXT"
INSERT = "INSERT OR IGNORE INTO pii_keys (key_id,created_at,record_date,wrapped) VALUES (?,?,?,?)"
PURGE = (  # fixed-width UTC text: '<' compares times
    "UPDATE pii_keys SET wrapped = NULL "
    "WHERE coalesce(record_date, created_at) < ? AND wrapped IS NOT NULL"
)
SELECT_WRAPPED = "SELECT wrapped FROM pii_keys WHERE key_id = ?"
LIVE = "SELECT key_id, wrapped FROM pii_keys WHERE wrapped IS NOT NULL"
UPDATE_WRAPPED = "UPDATE pii_keys SET wrapped = ? WHERE key_id = ?"
