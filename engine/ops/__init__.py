"""What an operator does, as functions returning data: the engine (sync/run), rebuild, replay,
replay-to-tenant, ping, status, audit, purge, the demo. No printing: ``cli`` formats the results.

May import every layer below it; only ``cli`` imports ``ops``.
"""
