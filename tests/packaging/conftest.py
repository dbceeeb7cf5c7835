"""The e2e world (both simulators on loopback) for the packaging tests."""

from tests.e2e.conftest import make_world

__all__ = ["make_world"]
