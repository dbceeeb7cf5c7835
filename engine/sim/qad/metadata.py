"""``GET api/qracore/entitymetadatas``: what the tenant says about its entities and browses.

The path is [C] (a public Adaptive client's endpoint list); the answer's SHAPE IS A GUESS [G]
(no public sample): ``{"data": {"entityMetadatas": [{path, viewUri, table, fields: [{name,
dbField}]}], "browseMetadatas": [{browseId, description, table, columns: [{name, dbField}]}]}}``.
``qad discover`` reads it to recognise a tenant's own names by their classic ``table.field``,
and falls back to probes when a tenant answers 404 (``QadSimulator(metadata=False)``).
Names (paths, views, fields, browse ids, columns) are the tenant's, i.e. after renames;
``table`` and ``dbField`` are classic schema names and never renamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.sim.qad.browses import BROWSES
from engine.sim.qad.names import Renames
from engine.sim.qad.routes import ROUTES
from engine.sim.qad.wire import Call, Reply

__all__ = ["entity_metadatas"]


def _fields(renames: Renames, shapes: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for shape in shapes:
        for name, db in shape.items():
            entry = {"name": renames.outbound(name), "dbField": db}
            if entry not in out:
                out.append(entry)
    return out


def catalog(renames: Renames) -> dict[str, Any]:
    entities = [
        {
            "path": renames.outbound_path(path),
            "viewUri": renames.outbound(route.view) if route.view else "",
            "table": route.table,
            "fields": _fields(renames, route.shapes),
        }
        for path, route in ROUTES.items()
        if route.table
    ]
    browses = [
        {
            "browseId": renames.outbound(b.browse_id),
            "description": b.description,
            "table": b.table,
            "columns": [
                {"name": renames.outbound(key), "dbField": db} for key, (_, db) in b.columns.items()
            ],
        }
        for b in BROWSES.values()
    ]
    return {"data": {"entityMetadatas": entities, "browseMetadatas": browses}}


def entity_metadatas(call: Call) -> Reply:
    renames = call.options.get("renames")
    assert isinstance(renames, Renames)
    return Reply(catalog(renames), translate=False)
