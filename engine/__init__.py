"""ml-connector: an event-sourced sync engine between Amazon SP-API and QAD Adaptive ERP.

Data flow: pollers -> append-only event log -> projectors -> dispatcher -> adapters.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
