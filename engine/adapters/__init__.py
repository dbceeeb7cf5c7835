"""All network code: ``amazon`` (SP-API, LWA, reports, Listings writes) and ``qad`` (tenant REST).

Imports only ``security``, ``config`` and ``errors``; nothing here knows events or commands.
"""
