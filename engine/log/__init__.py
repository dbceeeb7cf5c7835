"""The append-only event log: the single source of truth every projection is rebuilt from.

The ``EventLog`` port and its SQLite adapter. Imports only ``errors`` and ``config``.
"""

from engine.log.ports import EventLog, Transaction
from engine.log.records import AppendResult, NewEvent, StoredEvent
from engine.log.sqlite import SQLiteEventLog, encode_payload, payload_digest, secure_umask

__all__ = [
    "AppendResult",
    "EventLog",
    "NewEvent",
    "SQLiteEventLog",
    "StoredEvent",
    "Transaction",
    "encode_payload",
    "payload_digest",
    "secure_umask",
]
