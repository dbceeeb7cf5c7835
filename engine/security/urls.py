"""URL rules for the QAD tenant URL, entity paths and the Amazon URLs.

The pure functions live in ``engine.config.urls`` (the config layer checks URLs at load time and
may not import this layer); they are re-exported here so callers above keep one import path.
"""

from __future__ import annotations

from engine.config.urls import (
    REGION_PLACEHOLDER,
    is_loopback_host,
    validate_endpoint_template,
    validate_entity_path,
    validate_service_url,
    validate_tenant_url,
)

__all__ = [
    "REGION_PLACEHOLDER",
    "is_loopback_host",
    "validate_endpoint_template",
    "validate_entity_path",
    "validate_service_url",
    "validate_tenant_url",
]
