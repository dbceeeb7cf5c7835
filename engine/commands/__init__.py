"""The command vocabulary and the outbox store: what projectors write and the dispatcher reads.

Holds commands, attempts and parks beside the event log. Imports only ``log``, ``config`` and
``errors``.
"""
