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
