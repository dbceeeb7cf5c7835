"""A QAD tenant that spells every profile name its own way (for the simulator's ``renames``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.config.qad_profile import QadBrowses, QadFields, QadPaths

SECTIONS: dict[str, type] = {"paths": QadPaths, "browses": QadBrowses, "fields": QadFields}
# The platform paths (login, browses, metadata): a tenant renames entities, not these.
PLATFORM = {"token_endpoint", "security_control", "browses", "entity_metadata"}


def renamed_value(value: str) -> str:
    """The tenant's spelling of a default name (urns keep their lower-case style)."""
    return value + ("x" if value.startswith("urn:") else "X")


def renamed_profile(*, platform: bool = False) -> tuple[dict[str, str], dict[str, Any]]:
    """(simulator renames: default -> tenant name, the [qad] profile sections mapping them);
    ``platform=True`` renames the platform paths too."""
    renames: dict[str, str] = {}
    sections: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        default = cls()
        changes = {}
        for f in dataclasses.fields(default):
            value = getattr(default, f.name)
            if not value or (section == "paths" and f.name in PLATFORM and not platform):
                continue
            renames[value] = changes[f.name] = renamed_value(value)
        sections[section] = dataclasses.replace(default, **changes)
    return renames, sections


def renames() -> dict[str, str]:
    return renamed_profile()[0]
