"""The dispatcher: posts outbox commands through ``adapters`` under per-endpoint limits.

Retries with jittered backoff, looks up before re-creating after an unknown outcome, records
every attempt. Imports ``commands``, ``adapters``, ``log``, ``config``, ``errors``.
"""
