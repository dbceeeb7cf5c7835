"""Suite-wide isolation: no test reads or writes the real user's config directory.

The engine keeps per-machine state there (the key file, the vault, tenant claims); every test
gets its own ``XDG_CONFIG_HOME`` so claims of one test's simulated tenant never meet another's.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Path:
    path = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    """A throwaway PostgreSQL cluster for this test process (tests/pg_fixture.py), or a skip."""
    from tests.pg_fixture import start_cluster

    try:
        cluster = start_cluster()
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL server could start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_dsn(pg_cluster) -> str:  # type: ignore[no-untyped-def]
    """The DSN of a fresh, empty database in the session's cluster."""
    return pg_cluster.new_database()
