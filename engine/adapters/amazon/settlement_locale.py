"""Locale rules of settlement reports: date orders, decimal separators, time-zone suffixes.

Amazon writes dates and amounts in the marketplace's local form (engine/config/settlement_locales);
these helpers turn them into UTC datetimes and decide the decimal separator from a sample.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from engine.config.marketplaces import MARKETPLACE_REGION
from engine.config.model import MarketplaceMap
from engine.config.settlement_locales import LOCALES, default_locale

__all__ = [
    "DATE_ORDER",
    "DECIMAL_COMMA",
    "DOTTED_DATE",
    "MDY_CURRENCIES",
    "charset_for",
    "guess_decimal_comma",
    "iso_utc",
    "locale_picker",
    "parse_date",
]

# Date order and decimal separator by locale code (the table and its evidence live in config).
DATE_ORDER = {code: loc.date_order for code, loc in LOCALES.items()}
DECIMAL_COMMA = {code: loc.decimal_comma for code, loc in LOCALES.items()}
# Only when no configured marketplace decides: month-first for USD alone ([D] the US notice);
# CAD and MXN are day-first by the marketplace defaults ([C] by analogy, see settlement_locales).
MDY_CURRENCIES = {"USD"}
_TZ_OFFSETS = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "CST": -6,
    "CDT": -5,
    "EST": -5,
    "EDT": -4,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "JST": 9,
}

_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
    r"\s*(Z|[A-Z]{2,4}|[+-]\d{2}:?\d{2})?$"
)
DOTTED_DATE = re.compile(
    r"^(\d{1,2})\.(\d{1,2})\.(\d{2,4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"\s*(Z|[A-Z]{2,4}|[+-]\d{2}:?\d{2})?$"
)
_SLASHED = re.compile(
    r"^(\d{1,4})/(\d{1,2})/(\d{1,4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"\s*(Z|[A-Z]{2,4}|[+-]\d{2}:?\d{2})?$"
)


def _tz(suffix: str | None) -> timedelta:
    if not suffix:
        return timedelta(0)
    if suffix[0] in "+-":
        digits = suffix[1:].replace(":", "")
        off = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return off if suffix[0] == "+" else -off
    try:
        return timedelta(hours=_TZ_OFFSETS[suffix])
    except KeyError:
        raise ValueError(f"unknown time zone {suffix!r}") from None


def _year(y: str) -> int:
    v = int(y)
    if len(y) > 2:
        return v
    return v + (1900 if v >= 69 else 2000)  # strptime's %y pivot: "95" is 1995, not 2095


def parse_date(text: str, order: str) -> datetime:
    """Parse a settlement date/time in any supported layout to aware UTC (ValueError if not)."""
    s = text.strip()
    m = _ISO.match(s)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        m = DOTTED_DATE.match(s)
        if m:
            d, mo, y = int(m[1]), int(m[2]), _year(m[3])
        else:
            m = _SLASHED.match(s)
            if not m:
                raise ValueError(f"unrecognised date {text!r}")
            a, b, c = m[1], m[2], m[3]
            if len(a) == 4 or order == "YMD":
                y, mo, d = _year(a), int(b), int(c)
            elif order == "MDY":
                mo, d, y = int(a), int(b), _year(c)
            else:
                d, mo, y = int(a), int(b), _year(c)
    hh = int(m[4]) if m[4] else 0
    mm = int(m[5]) if m[5] else 0
    ss = int(m[6]) if m[6] else 0
    local = datetime(y, mo, d, hh, mm, ss, tzinfo=UTC)
    try:
        return local - _tz(m[7])
    except OverflowError:  # 0001-01-01 +05:00 leaves datetime's range
        raise ValueError(f"date out of range {text!r}") from None


def iso_utc(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def guess_decimal_comma(sample: str) -> bool | None:
    """True/False when ``sample`` reveals the decimal separator, None when ambiguous."""
    s = sample.strip().lstrip("-+")
    has_c, has_d = "," in s, "." in s
    if has_c and has_d:
        return s.rfind(",") > s.rfind(".")
    if has_c:
        tail = len(s) - s.rfind(",") - 1
        return tail != 3  # "95,00" decimal comma; "1,500" thousands
    if has_d:
        tail = len(s) - s.rfind(".") - 1
        return False if tail != 3 else None
    return None


def locale_picker(
    marketplaces: Mapping[str, MarketplaceMap], region: str | None = None
) -> Callable[[str], str | None]:
    """``pick(currency)`` for SettlementReader: the locale of the configured marketplaces (of
    ``region``) settling in that currency (each its ``settlement_locale`` or its default), or
    None when none is configured or they disagree on the layout (then the file decides)."""

    def pick(currency: str) -> str | None:
        codes = [
            m.settlement_locale or default_locale(mp)
            for mp, m in marketplaces.items()
            if m.currency.strip().upper() == currency
            and (region is None or MARKETPLACE_REGION.get(mp) == region)
        ]
        layouts = {(LOCALES[c].decimal_comma, LOCALES[c].date_order) for c in codes}
        return codes[0] if len(layouts) == 1 else None

    return pick


def charset_for(
    marketplaces: Mapping[str, MarketplaceMap],
    region: str,
    currency: str,
    forced: str | None = None,
) -> str | None:
    """The legacy charset a settlement in ``currency`` falls back to: the forced locale's, else
    that of the configured marketplaces of ``region`` settling in it (their
    ``settlement_locale`` or default) when they agree; None = the region's fallback decides."""
    if forced:
        return LOCALES[forced].charset
    charsets = {
        LOCALES[m.settlement_locale or default_locale(mp)].charset
        for mp, m in marketplaces.items()
        if m.currency.strip().upper() == currency and MARKETPLACE_REGION.get(mp) == region
    }
    return charsets.pop() if len(charsets) == 1 else None
