"""A tenant's entity and browse metadata (``qad.paths.entity_metadata``) for ``qad discover``.

The answer's shape is a guess [G] (see the contract): ``{"data": {"entityMetadatas": [{path,
viewUri, table, fields: [{name, dbField}]}], "browseMetadatas": [{browseId, description, table,
columns: [{name, dbField}]}]}}``. Parsing is lenient about everything it does not need, and an
answer it cannot read at all is treated like a tenant without metadata (probes only).

Names are matched on the classic QAD schema (``so_mstr``, ``so_mstr.so_po``): a key's ``db``
metadata in the profile against an entry's ``table`` or a field's ``dbField``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BrowseMeta", "Column", "EntityMeta", "Metadata", "parse_metadata"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    db: str  # classic table.field, "" when the tenant does not say


@dataclass(frozen=True, slots=True)
class EntityMeta:
    path: str
    view: str
    table: str
    fields: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class BrowseMeta:
    browse_id: str
    description: str
    table: str
    columns: tuple[Column, ...]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _columns(rows: Any) -> tuple[Column, ...]:
    if not isinstance(rows, list):
        return ()
    return tuple(
        Column(_text(r.get("name")), _text(r.get("dbField")))
        for r in rows
        if isinstance(r, dict) and _text(r.get("name"))
    )


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


@dataclass(frozen=True, slots=True)
class Metadata:
    entities: tuple[EntityMeta, ...]
    browses: tuple[BrowseMeta, ...]

    def summary(self) -> str:
        return f"{len(self.entities)} entities, {len(self.browses)} browses"

    # -- entities -------------------------------------------------------------------------------

    def paths_on(self, table: str) -> list[str]:
        """Distinct paths of the entities on ``table`` (``so_mstr``, ``tr_hist:RCT-UNP``)."""
        return _distinct([e.path for e in self.entities if e.table == table])

    def views_on(self, table: str) -> list[str]:
        return _distinct([e.view for e in self.entities if e.table == table])

    def field_names(self, db: str, home: str = "") -> list[str]:
        """Distinct names of the fields on ``db``; ``home`` (a table) breaks a tie."""
        names = _distinct([f.name for e in self.entities for f in e.fields if f.db == db])
        if len(names) > 1 and home:
            homed = _distinct(
                [
                    f.name
                    for e in self.entities
                    if e.table.split(":")[0] == home
                    for f in e.fields
                    if f.db == db
                ]
            )
            if homed:
                return homed
        return names

    def plain_fields(self, home: str) -> set[str]:
        """Names of the fields without a classic field, in the entities on table ``home``."""
        return {
            f.name
            for e in self.entities
            if e.table.split(":")[0] == home
            for f in e.fields
            if not f.db
        }

    def has_field(self, name: str) -> bool:
        return any(f.name == name for e in self.entities for f in e.fields)

    # -- browses --------------------------------------------------------------------------------

    def browse(self, browse_id: str) -> BrowseMeta | None:
        return next((b for b in self.browses if b.browse_id == browse_id), None)

    def browses_on(self, table: str, column_dbs: set[str], description: str) -> list[BrowseMeta]:
        """Browses on ``table``; several are narrowed to those that have every column the
        engine reads (by db field), then to those whose description matches the profile's."""
        found = [b for b in self.browses if b.table == table and b.browse_id]
        if len(found) > 1:
            covering = [b for b in found if column_dbs <= {c.db for c in b.columns}]
            found = covering or found
        if len(found) > 1 and description:
            described = [b for b in found if description.lower() in b.description.lower()]
            found = described or found
        return found


def parse_metadata(doc: Any) -> Metadata | None:
    """The metadata of a 200 answer; None when it is not in the expected shape at all."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        return None
    raw_entities = data.get("entityMetadatas")
    raw_browses = data.get("browseMetadatas")
    if not isinstance(raw_entities, list) and not isinstance(raw_browses, list):
        return None
    entities = tuple(
        EntityMeta(
            _text(e.get("path")).strip("/"),
            _text(e.get("viewUri")),
            _text(e.get("table")),
            _columns(e.get("fields")),
        )
        for e in raw_entities or []
        if isinstance(e, dict)
    )
    browses = tuple(
        BrowseMeta(
            _text(b.get("browseId")),
            _text(b.get("description")),
            _text(b.get("table")),
            _columns(b.get("columns")),
        )
        for b in raw_browses or []
        if isinstance(b, dict)
    )
    return Metadata(entities, browses)
