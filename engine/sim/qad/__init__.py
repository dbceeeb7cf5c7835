"""The QAD Adaptive ERP tenant simulator, strict by default (see ``server`` and its flows)."""

from engine.sim.qad.faults import FaultPlan, FaultRule
from engine.sim.qad.server import DEMO_PASSWORD, DEMO_USER, NOACCESS_USER, QadSimulator

__all__ = ["DEMO_PASSWORD", "DEMO_USER", "NOACCESS_USER", "FaultPlan", "FaultRule", "QadSimulator"]
