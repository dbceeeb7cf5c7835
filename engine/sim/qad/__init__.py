"""The QAD Adaptive ERP tenant simulator (see /work/notes/qad-api.md for the interface)."""

from engine.sim.qad.faults import FaultPlan, FaultRule
from engine.sim.qad.server import DEMO_PASSWORD, DEMO_USER, NOACCESS_USER, QadSimulator

__all__ = ["DEMO_PASSWORD", "DEMO_USER", "NOACCESS_USER", "FaultPlan", "FaultRule", "QadSimulator"]
