"""Local simulators of Amazon SP-API and a QAD Adaptive ERP tenant (aiohttp, loopback only).

They power the demo, the tests and the benchmarks. ``business.py`` is the one fixture both share:
the manufacturer's catalog, its marketplaces, the QAD customers and chart of accounts, so the
Amazon side and the QAD side of a simulated business line up. Imports nothing of the engine;
only ``ops.demo``, ``cli.sim``, tests and scripts import it.
"""
