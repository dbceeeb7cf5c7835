"""Projectors: pure functions from events to QAD/Listings commands (or parks with a reason).

Imports only ``commands``, ``log``, ``config`` and ``errors``; no I/O besides the runner's log
transactions.
"""
