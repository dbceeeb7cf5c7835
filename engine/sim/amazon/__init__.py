"""A faithful local Amazon SP-API + LWA simulator (see notes: amazon-sim-api.md)."""

from engine.sim.amazon.sellers import RegionCredentials, SellerConfig, SellerCredentials
from engine.sim.amazon.server import AmazonSimulator

__all__ = ["AmazonSimulator", "RegionCredentials", "SellerConfig", "SellerCredentials"]
