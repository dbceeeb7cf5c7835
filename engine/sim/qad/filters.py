"""QAD's browse filter grammar: ``field,op,value,literal`` [C] (public browse clients).

Operators ``eq cn sw ew gt ge lt le`` and the range ``field,rg,from,literal,to,literal`` [C].
Numbers compare numerically, everything else as case-insensitive text (the Progress default)
[I]. A filter on a column the browse does not have matches no row (the contract's rule; what a
real tenant does is [G]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["BrowseError", "apply_filters", "narrowing", "parse"]

Row = dict[str, Any]


class BrowseError(ValueError):
    """A malformed filter (HTTP 400)."""


def parse(spec: str) -> tuple[str, str, list[str]]:
    parts = spec.split(",")
    if len(parts) < 3:
        raise BrowseError(f"Malformed filter {spec!r}: expected field,op,value,literal")
    return parts[0], parts[1].lower(), parts[2:]


def _key(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return (0, Decimal(value))
    text = "" if value is None else str(value)
    try:
        return (0, Decimal(text)) if text and text.strip() == text else (1, text.lower())
    except InvalidOperation:
        return (1, text.lower())


def _compare(a: tuple[int, Any], b: tuple[int, Any]) -> int:
    if a[0] != b[0]:  # mixed kinds: compare as text
        sa, sb = str(a[1]).lower(), str(b[1]).lower()
        return (sa > sb) - (sa < sb)
    return int(a[1] > b[1]) - int(a[1] < b[1])


def _predicate(spec: str) -> Callable[[Row], bool]:
    field, op, args = parse(spec)
    if op == "rg":
        if len(args) < 3:
            raise BrowseError(f"Malformed range filter {spec!r}: field,rg,from,literal,to,literal")
        lo, hi = _key(args[0]), _key(args[2])
        return lambda r: (
            field in r and _compare(_key(r[field]), lo) >= 0 >= _compare(_key(r[field]), hi)
        )
    value = args[0]
    if op in ("cn", "sw", "ew"):
        v = value.lower()
        tests: dict[str, Callable[[str], bool]] = {
            "cn": lambda s: v in s,
            "sw": lambda s: s.startswith(v),
            "ew": lambda s: s.endswith(v),
        }
        t = tests[op]
        return lambda r: field in r and t(str(r[field] if r[field] is not None else "").lower())
    cmp_ok: dict[str, Callable[[int], bool]] = {
        "eq": lambda c: c == 0,
        "gt": lambda c: c > 0,
        "ge": lambda c: c >= 0,
        "lt": lambda c: c < 0,
        "le": lambda c: c <= 0,
    }
    if op not in cmp_ok:
        raise BrowseError(f"Unknown filter operator {op!r}")
    ok, target = cmp_ok[op], _key(value)
    return lambda r: field in r and ok(_compare(_key(r[field]), target))


def apply_filters(rows: list[Row], filters: Sequence[str]) -> list[Row]:
    preds = [_predicate(f) for f in filters]
    return [r for r in rows if all(p(r) for p in preds)]


def narrowing(filters: Sequence[str]) -> dict[str, str]:
    """Column -> lower-case value of every text ``eq`` filter a SQL ``lower(col)=?`` may
    pre-select (a superset of the rows ``apply_filters`` keeps: numbers compare numerically and
    non-ASCII folds differently in SQLite, so neither is narrowed)."""
    out: dict[str, str] = {}
    for spec in filters:
        field, op, args = parse(spec)
        if op != "eq" or not args[0].isascii():
            continue
        try:
            Decimal(args[0])
        except InvalidOperation:
            out[field] = args[0].lower()
    return out
