"""Declarative value rules for config fields, attached as dataclass field metadata.

Why declarative: the loader runs one loop over every field (file values and environment
overrides alike), so a key cannot be added without its rule being applied, and a test can walk
the model and insist every numeric key declares a range. ``ranged`` puts a ``Range`` under
``metadata["range"]``; ``checked`` puts any other rule (a callable) under ``metadata["check"]``.
A rule raises ConfigError whose message starts with ``where`` ("file: section.key").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from engine.config.marketplaces import MARKETPLACE_REGION, REGIONS
from engine.config.urls import validate_endpoint_template, validate_service_url
from engine.errors import ConfigError

__all__ = [
    "Check",
    "Range",
    "checked",
    "endpoint_url",
    "known_marketplaces",
    "known_region",
    "nonempty",
    "one_of",
    "path_text",
    "ranged",
    "service_url",
    "shared_fba_sites",
]

# (value, "file: section.key") -> None, or ConfigError
Check = Callable[[Any, str], None]

N = TypeVar("N", int, float, Decimal)
T = TypeVar("T")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True, slots=True)
class Range:
    """An interval ``lo..hi`` (each end inclusive unless ``*_open``); NaN and inf never fit.

    ``why`` is shown in the error and documents the bound (e.g. Amazon's 2-minute rule).
    """

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    why: str = ""

    def contains(self, v: float | Decimal) -> bool:
        if isinstance(v, float) and not math.isfinite(v):
            return False
        if isinstance(v, Decimal) and not v.is_finite():
            return False  # NaN Decimals raise on comparison
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return above and below

    def interval(self) -> str:
        """As documented in config.toml and the README: ``[0, 86400]``, ``(0, 90]``."""
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{left}{_num(self.lo)}, {_num(self.hi)}{right}"

    def describe(self) -> str:
        """The rule in words, for errors: ">= 120 and <= 86400", "a positive number in ..."."""
        if not self.lo_open:
            le = "<" if self.hi_open else "<="
            head = f">= {_num(self.lo)} and {le} {_num(self.hi)}"
        elif self.lo == 0 and not self.why:
            head = f"a positive number in {self.interval()}"
        else:
            head = f"in {self.interval()}"
        return head + (f" ({self.why})" if self.why else "")

    def __call__(self, value: Any, where: str) -> None:
        if not self.contains(value):
            raise ConfigError(f"{where} must be {self.describe()}, got {value!r}")


def ranged(
    default: N,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    why: str = "",
) -> N:
    """A dataclass field with ``default`` whose value must lie in the given range."""
    rng = Range(lo, hi, lo_open, hi_open, why)
    if not rng.contains(default):  # a programming error, caught at import
        raise ValueError(f"default {default!r} outside {rng.describe()}")
    return field(default=default, metadata={"range": rng})


def checked(default: T, check: Check) -> T:
    """A dataclass field with ``default`` whose configured value must pass ``check``."""
    return field(default=default, metadata={"check": check})


def one_of(*choices: str, fold_case: bool = False) -> Check:
    allowed = {c.upper() if fold_case else c for c in choices}
    shown = ", ".join(f'"{c}"' for c in choices)

    def check(value: Any, where: str) -> None:
        v = value.upper() if fold_case and isinstance(value, str) else value
        if v not in allowed:
            raise ConfigError(f"{where} must be one of {shown}, got {value!r}")

    return check


def nonempty(what: str) -> Check:
    """A string that must name something (a path), not be blank or hold NUL."""

    def check(value: Any, where: str) -> None:
        if not str(value).strip():
            raise ConfigError(f"{where} is empty: set {what}")
        path_text(value, where)

    return check


def path_text(value: Any, where: str) -> None:
    """No NUL: the OS cannot name such a file, and pathlib silently calls it missing."""
    if "\x00" in str(value):
        raise ConfigError(f"{where} must not contain NUL characters")


def known_region(value: Any, where: str) -> None:
    one_of(*REGIONS)(value, where)


_AMAZON_LOGIN = "LWA credentials live in the vault (`ml-connector creds set amazon`)"


def service_url(example: str) -> Check:
    """An Amazon URL that receives credentials: the tenant-URL rules (https, no userinfo...)."""

    def check(value: Any, where: str) -> None:
        validate_service_url(str(value), what=where, example=example, login=_AMAZON_LOGIN)

    return check


def endpoint_url(example: str) -> Check:
    """Like ``service_url``, but empty is allowed and ``{region}`` may appear."""

    def check(value: Any, where: str) -> None:
        if value != "":
            validate_endpoint_template(str(value), what=where, example=example, login=_AMAZON_LOGIN)

    return check


def known_marketplaces(value: Any, where: str) -> None:
    """Every id (list items, or the keys of ``[mapping.marketplaces.<id>]``) must be a known
    SP-API marketplace: an unknown one would otherwise fail later, deep inside the engine."""
    ids: Iterable[Any] = value
    for mp in ids:
        if mp not in MARKETPLACE_REGION:
            raise ConfigError(
                f"{where}: unknown marketplace id {mp!r} "
                f"(known: {', '.join(sorted(MARKETPLACE_REGION))})"
            )


def shared_fba_sites(fba_sites: Iterable[tuple[str, str]], allowed: bool, source: str) -> None:
    """(marketplace, fba_site) pairs: two marketplaces on one QAD FBA site are refused unless
    ``[inventory] allow_shared_fba_site``. In a pooled region (NA unified pool, pan-European)
    every marketplace's summaries count the same units [C models#452]: summing would double."""
    owner: dict[str, str] = {}
    for mp, site in fba_sites:
        if not site or allowed:
            continue
        if site in owner:
            raise ConfigError(
                f"{source}: mapping.marketplaces.{mp}.fba_site {site!r} is also the fba_site of "
                f"{owner[site]}; one QAD site per marketplace, or set "
                "inventory.allow_shared_fba_site = true (the site then follows the first of them "
                "in amazon.marketplaces, never the sum)"
            )
        owner[site] = mp
