"""Per-tenant QAD settings: the tenant URL, the login, and the tenant profile from config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.config.model import QadConfig
from engine.config.qad_profile import QadBrowses, QadFields, QadPaths
from engine.config.urls import validate_tenant_url

__all__ = ["QadBrowses", "QadFields", "QadPaths", "QadSettings", "profile_kwargs"]


@dataclass(frozen=True, slots=True)
class QadSettings:
    """One QAD tenant, addressed by its full URL (context root included, kept as given)."""

    tenant_url: str
    username: str
    password: str = field(repr=False)
    domain: str = "10USA"
    entity: str = "10USACO"
    client_id: str = ""  # "" = read it from securityControl with Basic auth
    paths: QadPaths = field(default_factory=QadPaths)
    browses: QadBrowses = field(default_factory=QadBrowses)
    fields: QadFields = field(default_factory=QadFields)
    cancel_policy: str = "zero_quantity"
    request_timeout_s: float = 30.0
    token_refresh_margin_s: float = 60.0
    page_size: int = 100
    probe_paths: bool = True

    def validated_url(self) -> str:
        return validate_tenant_url(self.tenant_url, what="qad.tenant_url")


def profile_kwargs(qad: QadConfig) -> dict[str, Any]:
    """The QadSettings keywords that come from the tenant profile in ``[qad]``."""
    return {
        "client_id": qad.client_id,
        "paths": qad.paths,
        "browses": qad.browses,
        "fields": qad.fields,
        "cancel_policy": qad.cancel_policy,
    }
