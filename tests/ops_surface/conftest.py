"""The e2e simulators (``make_world``) for the operator-surface tests."""

from tests.e2e.conftest import make_world

__all__ = ["make_world"]
