"""Configuration: ``config.toml`` loaded with tomllib into frozen dataclasses.

Every key has a default or a clear error naming the key and the file. Environment variables
``ML_CONNECTOR_<SECTION>_<KEY>`` (upper case) override file values for scalar and list keys
(lists comma-separated). Secrets are never read from here: credentials live in the encrypted
vault and config names them (``credential = "default"``).

To add a section: define a frozen dataclass with defaults and add it as a field of ``Config``.
Unknown keys are an error, so a typo never silently falls back to a default.
"""

from engine.config.loading import ENV_PREFIX, load_config, parse_config, to_toml
from engine.config.model import (
    AmazonConfig,
    Config,
    DispatchConfig,
    EngineConfig,
    InventoryConfig,
    ListingsConfig,
    MappingConfig,
    MarketplaceMap,
    PollConfig,
    QadConfig,
    SettlementRule,
)

__all__ = [
    "ENV_PREFIX",
    "AmazonConfig",
    "Config",
    "DispatchConfig",
    "EngineConfig",
    "InventoryConfig",
    "ListingsConfig",
    "MappingConfig",
    "MarketplaceMap",
    "PollConfig",
    "QadConfig",
    "SettlementRule",
    "load_config",
    "parse_config",
    "to_toml",
]
