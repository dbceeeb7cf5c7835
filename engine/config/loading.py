"""Loading ``config.toml``: tomllib -> typed sections, environment overrides, ``to_toml``.

Unknown keys and wrong types are errors naming the key and the file, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from engine.config.alerts import check_alerts
from engine.config.checks import shared_fba_sites
from engine.config.database import check_partition, is_postgresql_url, split_partition
from engine.config.model import Config
from engine.config.notifications import check_notifications
from engine.errors import ConfigError

__all__ = ["ENV_PREFIX", "load_config", "parse_config", "to_toml"]

ENV_PREFIX = "ML_CONNECTOR_"

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
    cfg = _anchor_paths(cfg, p.resolve().parent)
    _check_paths(cfg, str(p))
    return cfg


def _anchor_paths(cfg: Config, folder: Path) -> Config:
    """Relative ``engine.db`` and ``poll.raw_dir`` are relative to the config file's folder.

    Not to the working directory: the same config run from two folders made two event logs,
    and both posted to the one QAD tenant (149 duplicate documents).
    """
    db = cfg.engine.db
    if db and not is_postgresql_url(db) and not Path(db).is_absolute():
        cfg = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, db=str(folder / db)))
    raw = cfg.poll.raw_dir
    if raw and not Path(raw).is_absolute():
        cfg = dataclasses.replace(
            cfg, poll=dataclasses.replace(cfg.poll, raw_dir=str(folder / raw))
        )
    return cfg


def _check_paths(cfg: Config, source: str) -> None:
    """Refuse paths that exist as the wrong kind of thing, before anything opens them.

    Only what exists is checked: a missing event log or raw directory is created on first use.
    Not in ``parse_config``, which stays free of file-system access.
    """
    db = cfg.engine.db
    if _kind(db, "engine.db", source) == "dir":
        raise ConfigError(f"{source}: engine.db {db!r} is a directory, not an event log file")
    raw = cfg.poll.raw_dir
    if raw and _kind(raw, "poll.raw_dir", source) == "other":
        raise ConfigError(f"{source}: poll.raw_dir {raw!r} exists and is not a directory")


def _kind(path: str, where: str, source: str) -> str:
    """What ``path`` is: "missing", "dir" or "other"; a name the OS refuses is a ConfigError."""
    try:
        p = Path(path)
        if not p.exists():
            return "missing"
        return "dir" if p.is_dir() else "other"
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{source}: {where} {path!r} is not a usable path: {exc}") from None


def to_toml(cfg: Config) -> str:
    """``cfg`` as config.toml text that ``load_config`` reads back to an equal Config.

    For tools that hand a generated configuration to the CLI (crash test, benchmarks, tests).
    """
    out: list[str] = []
    profile = ("paths", "browses", "fields")
    for section in (
        "engine",
        "amazon",
        "qad",
        "orders",
        "backfill",
        "poll",
        "dispatch",
        "inventory",
        "listings",
        "web",
        "notifications",
        "alerts",
    ):
        data = dataclasses.asdict(getattr(cfg, section))
        if section == "qad":
            out += _toml_table(section, {k: v for k, v in data.items() if k not in profile})
            for sub in profile:
                out += _toml_table(f"qad.{sub}", data[sub])
            continue
        if section == "listings":  # its one table-valued key becomes [listings.language_tags]
            tags = data.pop("language_tags")
            out += [*_toml_table(section, data), *_toml_table("listings.language_tags", tags)]
            continue
        out += _toml_table(section, data)
    m = cfg.mapping
    nested = ("sku", "marketplaces", "settlement", "accounts")
    out += _toml_table(
        "mapping", {k: v for k, v in dataclasses.asdict(m).items() if k not in nested}
    )
    out += _toml_table("mapping.sku", dict(m.sku))
    out += _toml_table("mapping.accounts", dict(m.accounts))
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
    cfg = Config(**sections, source=source)
    fba = ((mp, m.fba_site) for mp, m in cfg.mapping.marketplaces.items())
    shared_fba_sites(fba, cfg.inventory.allow_shared_fba_site, source)
    check_notifications(cfg.notifications, source)
    check_alerts(cfg.alerts, source)
    db = check_partition(cfg.engine.db, cfg.engine.partition, source)
    _, partition = split_partition(db)
    if (db, partition) != (cfg.engine.db, cfg.engine.partition):
        engine = dataclasses.replace(cfg.engine, db=db, partition=partition)
        cfg = dataclasses.replace(cfg, engine=engine)
    return cfg


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
            where = f"{where} (from ${env_key})"
            value = _coerce(hints[f.name], env[env_key], where, source, from_env=True)
        elif f.name in table:
            value = _coerce(hints[f.name], table[f.name], where, source, from_env=False)
        else:
            continue  # the default, which lies within its own rules (tests check that)
        # The field's declared rules, for file values and overrides alike (model.py, checks.py).
        for rule in ("range", "check"):
            if rule in f.metadata:
                f.metadata[rule](value, f"{source}: {where}")
        values[f.name] = value
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
