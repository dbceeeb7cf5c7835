"""Secrets and personal data: master key, credential vault, PII sealing, URL checks, redaction.

Imports only ``log``, ``config`` and ``errors``.

Modules (import them directly; this package keeps its namespace small):
- ``keys``: the master key (env ``ML_CONNECTOR_KEY`` or a 0600 key file in the config dir)
- ``vault``: AES-256-GCM credential vault file (Amazon LWA + QAD records)
- ``pii``: per-record field encryption of buyer PII in the event log, erasable by key destruction
- ``urls``: tenant URL and entity path validation
- ``redact``: logging filter that masks tokens and registered secrets
"""

from __future__ import annotations

__all__: list[str] = []
