"""Configuration: ``config.toml`` loaded with tomllib into frozen dataclasses.

Every key has a default or a clear error naming the key and the file. Environment variables
``ML_CONNECTOR_<SECTION>_<KEY>`` (upper case) override file values for scalar and list keys
(lists comma-separated). Secrets are never read from here: credentials live in the encrypted
vault and config names them (``credential = "default"``).

To add a section: define a frozen dataclass with defaults and add it as a field of ``Config``.
Unknown keys are an error, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import ConfigError

__all__ = [
    "AmazonConfig",
    "Config",
    "DispatchConfig",
    "EngineConfig",
    "InventoryConfig",
    "MappingConfig",
    "MarketplaceMap",
    "PollConfig",
    "QadConfig",
    "SettlementRule",
    "load_config",
    "parse_config",
    "to_toml",
]

ENV_PREFIX = "ML_CONNECTOR_"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """``[engine]``: where the event log lives."""

    db: str = "ml-connector.db"
    # synchronous=FULL survives power loss; NORMAL is faster and still crash-safe in WAL mode.
    synchronous: str = "FULL"


@dataclass(frozen=True, slots=True)
class AmazonConfig:
    """``[amazon]``: SP-API access. Credentials come from the vault entry named ``credential``."""

    credential: str = "default"
    # Empty means: derive the production host from the region (NA/EU/FE).
    endpoint: str = ""
    lwa_url: str = "https://api.amazon.com/auth/o2/token"
    region: str = "NA"
    marketplaces: tuple[str, ...] = ("ATVPDKIKX0DER",)
    seller_id: str = ""
    orders_api: str = "2026-01-01"  # or "v0" (deprecated getOrders + getOrderItems)
    # Marketplaces whose listings follow QAD item changes (price is in QAD's currency).
    listing_marketplaces: tuple[str, ...] = ("ATVPDKIKX0DER",)
    # Per HTTP request to SP-API / LWA; a timeout is retried like a 5xx.
    request_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class QadConfig:
    """``[qad]``: one QAD tenant, addressed by its full URL (QAD has no shared base address)."""

    credential: str = "default"
    tenant_url: str = ""
    domain: str = "10USA"
    entity: str = "10USACO"


@dataclass(frozen=True, slots=True)
class PollConfig:
    """``[poll]``: cadences in seconds for the scheduler (``ml-connector run``) and the Amazon
    pollers' windows. ``validate`` rejects unsafe values (e.g. an end lag under Amazon's 2 min)."""

    orders_every_s: float = 300.0
    inventory_every_s: float = 900.0  # FBA summaries and the merchant listings report
    settlements_every_s: float = 21600.0
    catalog_every_s: float = 3600.0
    # Orders windows by LastUpdatedAfter: each starts this long before the watermark so an
    # order updated at a window edge is never missed (re-reads append nothing new).
    orders_overlap_s: float = 600.0
    # The window ends this long before now; Amazon wants >= 2 minutes (late-indexed updates).
    orders_end_lag_s: float = 150.0
    orders_initial_lookback_days: float = 30.0  # first run (no watermark yet)
    orders_max_window_days: float = 7.0  # long outages are caught up in windows of this size
    settlements_lookback_days: float = 89.0  # settlement reports are retained 90 days
    # Raw report documents (settlements, listings) kept for re-parsing; "" = "raw" next to db.
    raw_dir: str = ""

    def validate(self, source: str) -> None:
        """Raise ConfigError naming the key when a value is unsafe."""
        for name in ("orders_every_s", "inventory_every_s", "settlements_every_s",
                     "catalog_every_s", "orders_initial_lookback_days",
                     "orders_max_window_days"):  # fmt: skip
            v = getattr(self, name)
            if not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{source}: poll.{name} must be a positive number, got {v!r}")
        if not math.isfinite(self.orders_overlap_s) or self.orders_overlap_s < 0:
            raise ConfigError(
                f"{source}: poll.orders_overlap_s must be >= 0, got {self.orders_overlap_s!r}"
            )
        if not math.isfinite(self.orders_end_lag_s) or self.orders_end_lag_s < 120:
            raise ConfigError(
                f"{source}: poll.orders_end_lag_s must be >= 120 (Amazon wants the end bound "
                f"at least 2 minutes before now), got {self.orders_end_lag_s!r}"
            )
        if not 0 < self.settlements_lookback_days <= 90:
            raise ConfigError(
                f"{source}: poll.settlements_lookback_days must be in (0, 90] (reports are "
                f"kept 90 days), got {self.settlements_lookback_days!r}"
            )


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """``[dispatch]``: how commands are posted."""

    qad_rate_per_s: float = 10.0
    qad_burst: int = 10
    concurrency: int = 4
    max_attempts: int = 8
    timeout_s: float = 30.0
    # Backoff with full jitter: uniform(0, min(retry_cap_s, retry_base_s * 2**(n-1))).
    retry_base_s: float = 2.0
    retry_cap_s: float = 600.0
    # SP-API patchListingsItem: 5 requests/s, burst 10.
    listings_rate_per_s: float = 5.0
    listings_burst: int = 10


@dataclass(frozen=True, slots=True)
class MarketplaceMap:
    """How one Amazon marketplace lands in QAD."""

    customer: str
    currency: str
    name: str = ""  # as in settlement files' marketplace-name, e.g. "Amazon.de"
    site: str = "10-100"
    # QAD site holding this marketplace's FBA stock; "" = do not align FBA stock for it.
    fba_site: str = ""
    # Compare merchant-fulfilled quantities with this QAD site; "" = skip.
    warehouse_site: str = ""


@dataclass(frozen=True, slots=True)
class SettlementRule:
    """(transaction-type, amount-type, amount-description) -> GL account; fnmatch patterns."""

    account: str
    transaction_type: str = "*"
    amount_type: str = "*"
    amount_description: str = "*"


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """``[mapping]``: SKU -> QAD item, marketplace -> customer/site, settlement lines -> GL."""

    sku: dict[str, str] = field(default_factory=dict)
    marketplaces: dict[str, MarketplaceMap] = field(default_factory=dict)
    settlement: tuple[SettlementRule, ...] = ()
    clearing_account: str = "1250"
    suspense_account: str = "9999"
    invoice_daybook: str = "SALES"
    journal_daybook: str = "JE"


@dataclass(frozen=True, slots=True)
class InventoryConfig:
    """``[inventory]``: merchant-fulfilled stock is adjusted or only reported as drift."""

    mfn_mode: str = "report"  # "adjust" | "report"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; ``source`` is the file it came from (for error messages)."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    amazon: AmazonConfig = field(default_factory=AmazonConfig)
    qad: QadConfig = field(default_factory=QadConfig)
    poll: PollConfig = field(default_factory=PollConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    source: str = "<defaults>"


T = TypeVar("T")


def load_config(path: str | Path, env: typing.Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (TOML) and apply environment overrides."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {p} not found (copy config.toml from the project)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses per nesting level: "a = [[[[...]]]]"
        raise ConfigError(f"{p}: not valid TOML: nested too deeply") from None
    cfg = parse_config(data, source=str(p), env=os.environ if env is None else env)
    if cfg.inventory.mfn_mode not in ("adjust", "report"):
        raise ConfigError(f'{p}: inventory.mfn_mode must be "adjust" or "report"')
    return cfg


def to_toml(cfg: Config) -> str:
    """``cfg`` as config.toml text that ``load_config`` reads back to an equal Config.

    For tools that hand a generated configuration to the CLI (crash test, benchmarks, tests).
    """
    out: list[str] = []
    for section in ("engine", "amazon", "qad", "poll", "dispatch", "inventory"):
        out += _toml_table(section, dataclasses.asdict(getattr(cfg, section)))
    m = cfg.mapping
    nested = ("sku", "marketplaces", "settlement")
    out += _toml_table(
        "mapping", {k: v for k, v in dataclasses.asdict(m).items() if k not in nested}
    )
    out += _toml_table("mapping.sku", dict(m.sku))
    for mp, mm in m.marketplaces.items():
        out += _toml_table(f"mapping.marketplaces.{mp}", dataclasses.asdict(mm))
    for rule in m.settlement:
        out += ["[[mapping.settlement]]"]
        out += [f"{k} = {_toml_value(v)}" for k, v in dataclasses.asdict(rule).items()]
    return "\n".join(out) + "\n"


def _toml_table(name: str, data: dict[str, Any]) -> list[str]:
    return [f"[{name}]", *(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.items())]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # JSON string escapes are valid TOML basic strings


def parse_config(
    data: dict[str, Any], *, source: str = "<dict>", env: typing.Mapping[str, str] | None = None
) -> Config:
    """Build a Config from parsed TOML ``data``; ``env`` overrides (defaults to none)."""
    env = env or {}
    hints = typing.get_type_hints(Config)
    sections: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(Config) if f.name != "source"}
    for name in data:
        if name not in known:
            raise ConfigError(
                f"{source}: unknown section [{name}] (known: {', '.join(sorted(known))})"
            )
    for name in sorted(known):
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        sections[name] = _build_section(hints[name], table, name, source, env)
    sections["poll"].validate(source)
    timeout = sections["amazon"].request_timeout_s
    if not timeout > 0 or timeout == float("inf"):
        raise ConfigError(
            f"{source}: amazon.request_timeout_s must be a positive number, got {timeout!r}"
        )
    return Config(**sections, source=source)


def _build_section(
    cls: type[T], table: dict[str, Any], section: str, source: str, env: typing.Mapping[str, str]
) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key not in names:
            raise ConfigError(
                f"{source}: unknown key {section}.{key} (known: {', '.join(sorted(names))})"
            )
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in table:
            raise ConfigError(f"{source}: {section}.{f.name} is required")
        env_key = f"{ENV_PREFIX}{section}_{f.name}".upper()
        where = f"{section}.{f.name}"
        if env_key in env:
            values[f.name] = _coerce(
                hints[f.name], env[env_key], f"{where} (from ${env_key})", source, from_env=True
            )
        elif f.name in table:
            values[f.name] = _coerce(hints[f.name], table[f.name], where, source, from_env=False)
    return cls(**values)


def _coerce(tp: Any, value: Any, where: str, source: str, *, from_env: bool) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = f"{source}: {where} must be {_describe(tp)}, got {value!r}"
    if origin in (types.UnionType, typing.Union):
        if value in ("", None) and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where, source, from_env=from_env)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if (
            from_env
            and isinstance(value, str)
            and value.lower() in ("1", "true", "yes", "0", "false", "no")
        ):
            return value.lower() in ("1", "true", "yes")
        raise ConfigError(bad)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ConfigError(bad) from None
        raise ConfigError(bad)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ConfigError(bad) from None
        raise ConfigError(bad)
    if tp is Decimal:
        # Money in config is written as a string ("12.50") so TOML floats never touch it.
        if isinstance(value, str | int) and not isinstance(value, bool):
            try:
                return Decimal(value)
            except InvalidOperation:
                raise ConfigError(bad) from None
        raise ConfigError(bad)
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(bad)
    if origin is tuple:
        item_tp = args[0]
        if from_env and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(bad)
        return tuple(_coerce(item_tp, v, f"{where}[]", source, from_env=from_env) for v in value)
    if origin is dict:
        if from_env or not isinstance(value, dict):
            raise ConfigError(bad)
        key_tp, val_tp = args
        return {
            _coerce(key_tp, k, f"{where} key", source, from_env=False): _coerce(
                val_tp, v, f"{where}.{k}", source, from_env=False
            )
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(bad)
        return _build_section(tp, value, where, source, {})
    raise ConfigError(f"{source}: {where} has an unsupported type {tp!r}")  # programming error


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    names = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Decimal: 'a decimal string such as "12.50"',
    }
    return names.get(tp, getattr(tp, "__name__", str(tp)))
