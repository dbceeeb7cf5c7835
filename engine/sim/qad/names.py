"""A tenant that spells things differently: renames applied at the simulator's HTTP edge.

``Renames({"so_mstr.so_po": "so_mstr.so_custpo", "api/erp/items": "api/erp/parts"})`` maps a
canonical name (the tenant-profile default in engine/config/qad_profile.py) to the tenant's
name. The mapping is flat: a name is renamed wherever it appears — request path (whole, or
entity path + last segment for sub-steps such as ``<unplanned>/validateAndAssignDefaultsLine``),
query parameter names, the values of ``browseId``, ``viewUri`` and ``fieldName``, the column of
each ``filter=``, request and response body keys at any depth, browse row keys.

A canonical name that was renamed away and arrives under its canonical spelling is unknown: a
404 path, a dropped query parameter, an unknown browse or column (no rows), an unknown field
(business error). So a client that ignores its configuration fails against a renamed tenant
instead of silently working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.sim.qad.store.core import BusinessError, unknown_field

__all__ = ["UNKNOWN", "RenamedAway", "Renames"]

# Prefix of a value whose canonical spelling was renamed away: matches no browse, view, column.
UNKNOWN = "?renamed-away?"
VALUE_PARAMS = ("browseId", "viewUri", "fieldName")


class RenamedAway(BusinessError):
    """A body key the tenant renamed, sent under its canonical spelling: an unknown field,
    reported as sent (never translated back to the tenant's name)."""

    def __init__(self, name: str) -> None:
        err = unknown_field(name)
        super().__init__(err.field, err.message)


class Renames:
    """Canonical <-> tenant names. An empty mapping translates nothing."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        pairs = {str(k): str(v) for k, v in (mapping or {}).items() if k != v}
        for k, v in pairs.items():
            if not k or not v:
                raise ValueError(f"renames: empty name in {k!r} -> {v!r}")
        tenant_names = list(pairs.values())
        clash = {v for v in tenant_names if tenant_names.count(v) > 1}
        if clash:
            raise ValueError(f"renames: several names renamed to {sorted(clash)}")
        self.to_tenant: dict[str, str] = pairs
        self.to_canonical: dict[str, str] = {v: k for k, v in pairs.items()}
        # Renamed away: the tenant no longer knows these under their canonical spelling.
        self.gone: frozenset[str] = frozenset(pairs) - frozenset(self.to_canonical)

    def __bool__(self) -> bool:
        return bool(self.to_tenant)

    # -- single names ---------------------------------------------------------------------------

    def inbound(self, name: str) -> str | None:
        """The canonical name of a tenant name; None when it was renamed away."""
        if name in self.to_canonical:
            return self.to_canonical[name]
        return None if name in self.gone else name

    def outbound(self, name: str) -> str:
        return self.to_tenant.get(name, name)

    def inbound_value(self, value: str) -> str:
        found = self.inbound(value)
        return UNKNOWN + value if found is None else found

    # -- paths ----------------------------------------------------------------------------------

    def inbound_path(self, path: str) -> str | None:
        """Canonical relative path (no leading slash); None = a 404 under this tenant."""
        whole = self.inbound(path)
        if path in self.to_canonical or whole is None:
            return whole
        head, sep, last = path.rpartition("/")
        if not sep:
            return path
        head_c, last_c = self.inbound(head), self.inbound(last)
        if head_c is None or last_c is None:
            return None
        return f"{head_c}/{last_c}"

    def outbound_path(self, path: str) -> str:
        if path in self.to_tenant:
            return self.to_tenant[path]
        head, sep, last = path.rpartition("/")
        if sep and (head in self.to_tenant or last in self.to_tenant):
            return f"{self.outbound(head)}/{self.outbound(last)}"
        return path

    # -- query and bodies -----------------------------------------------------------------------

    def inbound_filter(self, spec: str) -> str:
        column, sep, rest = spec.partition(",")
        return self.inbound_value(column) + sep + rest

    def inbound_keys(self, value: Any) -> Any:
        """Body keys to canonical names, at any depth; BusinessError on a renamed-away key."""
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                canonical = self.inbound(str(key))
                if canonical is None:
                    raise RenamedAway(str(key))
                out[canonical] = self.inbound_keys(item)
            return out
        if isinstance(value, list):
            return [self.inbound_keys(v) for v in value]
        return value

    def outbound_keys(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self.outbound(str(k)): self.outbound_keys(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.outbound_keys(v) for v in value]
        return value

    def outbound_error(self, exc: BusinessError) -> tuple[str, str]:
        """(fieldName, message) of a business error in the tenant's names."""
        field, message = exc.field, exc.message.replace(UNKNOWN, "")
        if field.startswith(UNKNOWN):  # a renamed-away value: reported as the client sent it
            return field[len(UNKNOWN) :], message
        tenant = self.outbound(field)
        if tenant != field:
            message = message.replace(field, tenant)
        return tenant, message
