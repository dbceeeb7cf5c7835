"""``qad discover`` for ``[qad.fields]``: body field names, checked without writing anything.

A field name can only be probed by a write, so the evidence is the tenant's metadata (a field's
``dbField`` against the key's classic ``db``) and, for the unplanned-receipt tree, the blank
record the init GET hands out. When the metadata gives several names for one classic field
(the invoice line amount and the journal debit are both ``PostingLine.PostingLineDebitTC``),
the entity whose body carries the key breaks the tie.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from engine.adapters.qad.settings import QadSettings
from engine.config.qad_profile import profile_keys
from engine.ops.qad_metadata import Metadata

__all__ = ["TREE", "check_fields", "home_of"]

# The unplanned-receipt tree's own names (no classic field): the blank init record shows them.
TREE = ("unplanned_headers", "unplanned_details", "unplanned_header_id", "unplanned_detail_id")
Result = tuple[str, str, str, str]  # status, probed, detail, resolved

_SO = ("domain", "site", "currency")
_POSTING = (
    *("entity", "daybook", "description", "lines", "gl_account", "sub_account"),
    *("cost_center", "project", "debit", "credit"),
)


def home_of(key: str) -> str:
    """The table of the entity whose body carries ``[qad.fields] key`` (a tie-break only)."""
    if key == "line_amount":
        return "DInvoice"  # the invoice line's amount; the journal's lines use debit/credit
    if key.startswith("so_") or key in _SO:
        return "so_mstr"
    if key.startswith("line_"):
        return "sod_det"
    if key.startswith("unplanned_"):
        return "tr_hist"
    if key.startswith("invoice_"):
        return "DInvoice"
    if key.startswith("journal_") or key in _POSTING:
        return "Posting"
    return ""


def check_fields(
    settings: QadSettings, meta: Metadata | None, tree: tuple[str, Any]
) -> dict[str, Result]:
    keys = profile_keys(settings.fields)
    out: dict[str, Result] = {}
    by_db: dict[str, list[str]] = defaultdict(list)
    values = {k: v for k, v, _, _ in keys}
    for key, value, _, db in keys:
        if key in TREE:
            continue  # read from the blank record below
        if meta is None:
            detail = "no metadata: a body field is checked by the first write only (see Swagger)"
            out[key] = ("unverified", "-", detail, "")
        elif meta is not None and db:
            by_db[db].append(key)
        elif meta.has_field(value):
            out[key] = ("found", "metadata field names", f"{value} is a field in the metadata", "")
    if meta is not None:
        for db, group in by_db.items():
            out.update(_group(meta, db, group, values))
        for key, _, _, db in keys:
            if not db and key not in TREE and key not in out:
                out[key] = _unclaimed(meta, key, values, out)
    out.update(_tree(meta, tree, values, out))
    return out


# QAD's own record envelope [C]: never the name of a profile key.
ENVELOPE = frozenset(
    ("uri", "dataOperation", "concurrencyHash", "disallowedActions", "disallowedActionsMessage")
)


def _claimed(values: dict[str, str], known: dict[str, Result]) -> set[str]:
    """Every name another key already stands for (its resolved name, else its configured one)."""
    return {r[3] or values[k] for k, r in known.items() if r[0] in ("found", "missing")}


def _unclaimed(
    meta: Metadata, key: str, values: dict[str, str], known: dict[str, Result]
) -> Result:
    """A key without a classic field: the one field of its entity that has no classic field
    either and that no other key (nor QAD's envelope) stands for, if there is exactly one."""
    home = home_of(key)
    probed = f"metadata fields without a classic field on {home or '-'}"
    taken = _claimed(values, known) | ENVELOPE
    pool = meta.plain_fields(home) - taken if home else set()
    if len(pool) == 1:
        name = next(iter(pool))
        return ("missing", probed, f"the one unclaimed field there is {name}", name)
    detail = "no classic field to match it on: copy it from the tenant's Swagger"
    if pool:
        detail += f" (candidates: {', '.join(sorted(pool))})"
    return ("unverified", probed, detail, "")


def _group(meta: Metadata, db: str, group: list[str], values: dict[str, str]) -> dict[str, Result]:
    """The keys that stand for classic field ``db``."""
    probed = f"metadata fields on {db}"
    names = {k: meta.field_names(db, home_of(k)) for k in group}
    out: dict[str, Result] = {}
    for k in group:
        if values[k] in names[k]:
            out[k] = ("found", probed, f"{values[k]} is listed", "")
    claimed = {values[k] for k in out}
    left = [k for k in group if k not in out]
    pools = {k: [n for n in names[k] if n not in claimed] for k in left}
    for k in left:
        pool = pools[k]
        if values[k] == "":  # an optional field left off: nothing to check, say what it is
            hint = f"; the tenant calls it {pool[0]}" if len(pool) == 1 else ""
            out[k] = ("found", probed, f'not sent ("" in config){hint}', "")
        elif len(pool) == 1:
            out[k] = ("missing", probed, f"the tenant calls it {pool[0]}", pool[0])
        elif pool:
            out[k] = ("ambiguous", probed, f"the metadata names several: {', '.join(pool)}", "")
        elif meta.has_field(values[k]):
            out[k] = ("found", probed, f"{values[k]} is a field (its db field is not given)", "")
        else:
            out[k] = ("unverified", probed, f"the metadata describes no field on {db}", "")
    return out


def _tree(
    meta: Metadata | None,
    tree: tuple[str, Any],
    values: dict[str, str],
    known: dict[str, Result],
) -> dict[str, Result]:
    """The tree keys from the blank init record: the only list in ``data`` holds the headers,
    the only list in a header its details, and the one filled-in value that is no known field
    of a header / detail is its id (the blank record carries nothing else but domain and site).
    """
    probed, doc = tree
    # Every name the other field keys resolve to, so that they are not taken for an id.
    names = _claimed(values, known)
    names |= {v for k, v in values.items() if k not in TREE}
    found: dict[str, str] = {}
    data = doc.get("data") if isinstance(doc, dict) else None
    lists = _lists(data)
    if len(lists) == 1:
        found["unplanned_headers"], header = lists[0]
        details = _lists(header)
        if len(details) == 1:
            found["unplanned_details"], detail = details[0]
            found |= _id("unplanned_detail_id", detail, names)
        found |= _id("unplanned_header_id", header, names | set(found.values()))
    out: dict[str, Result] = {}
    for key in TREE:
        value = values[key]
        if key in found and found[key] == value:
            out[key] = ("found", probed, "in the blank record", "")
        elif key in found:
            out[key] = ("missing", probed, f"the blank record calls it {found[key]}", found[key])
        elif meta is not None and meta.has_field(value):
            out[key] = ("found", "metadata field names", f"{value} is a field in the metadata", "")
        else:
            why = "no blank record to read" if doc is None else "not recognised in the blank record"
            out[key] = ("unverified", probed or "-", why, "")
    return out


def _lists(record: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, first element) of every list-of-records value of a record."""
    if not isinstance(record, dict):
        return []
    return [
        (k, v[0]) for k, v in record.items() if isinstance(v, list) and v and isinstance(v[0], dict)
    ]


def _id(key: str, record: dict[str, Any], names: set[str]) -> dict[str, str]:
    filled = [k for k, v in record.items() if isinstance(v, str) and v and k not in names]
    return {key: filled[0]} if len(filled) == 1 else {}
