"""QAD browses: ``GET api/qracore/browses?browseId=..&page=N&pageSize=M[&filter=c,eq,v,literal]``.

A browse answers flat rows keyed by ``table.column``. An unknown browse id or a filter on a
column the browse lacks answers 200 with no rows, exactly like "nothing found", so look-ups
check every row they get back: a row without the look-up column is a configuration error, and
a row whose column holds another value (a browse ignoring the filter) is not a match.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from engine.errors import ConfigError

from .settings import QadSettings
from .transport import Transport
from .wire import Doc

__all__ = ["Browser", "browse_params", "eq"]


def eq(column: str, value: str) -> str:
    """One ``filter`` value: column equals value, compared as a literal."""
    return f"{column},eq,{value},literal"


def browse_params(
    browse_id: str, page: int, size: int, filters: list[str]
) -> list[tuple[str, str]]:
    """The query of one browse page (``pageAction=next`` after page 1 is [I])."""
    return [
        ("browseId", browse_id),
        ("page", str(page)),
        ("pageSize", str(size)),
        ("pageAction", "first" if page == 1 else "next"),
        *(("filter", f) for f in filters),
    ]


class Browser:
    """Paged reads of the configured browses."""

    def __init__(self, transport: Transport, settings: QadSettings) -> None:
        self.t = transport
        self.settings = settings

    def params(
        self, browse_id: str, page: int, size: int, filters: list[str]
    ) -> list[tuple[str, str]]:
        return browse_params(browse_id, page, size, filters)

    @staticmethod
    def parse(doc: Any) -> tuple[list[Doc], bool]:
        """The rows of one browse page and whether QAD says more pages follow."""
        rows = doc.get("data") if isinstance(doc, dict) else None
        aux = doc.get("auxillaryData") if isinstance(doc, dict) else None
        more = str((aux or {}).get("HasMoreParams", "false")).lower() == "true"
        return [r for r in rows or [] if isinstance(r, dict)], more

    async def page(
        self, browse_id: str, page: int, size: int, filters: list[str]
    ) -> tuple[list[Doc], bool]:
        doc = await self.t.json(
            "GET", self.settings.paths.browses, params=self.params(browse_id, page, size, filters)
        )
        return self.parse(doc)

    async def rows(
        self, browse_id: str, filters: list[str] | None = None, page_size: int | None = None
    ) -> AsyncIterator[Doc]:
        """Every row of a browse, page by page, until ``HasMoreParams`` is "false"."""
        size = page_size or self.settings.page_size
        page = 1
        while True:
            rows, more = await self.page(browse_id, page, size, filters or [])
            for r in rows:
                yield r
            if not more or not rows:  # an empty page claiming "more" would loop forever
                return
            page += 1

    async def matching(
        self,
        key: str,
        column_key: str,
        value: str,
        *,
        also: dict[str, str] | None = None,
        page_size: int | None = None,
    ) -> list[Doc]:
        """Rows of ``[qad.browses] key`` whose column ``column_key`` equals ``value`` (and each
        ``also`` column key equals its value), filtered by QAD and checked here."""
        b = self.settings.browses
        wanted = {column_key: value, **(also or {})}
        columns = {k: str(getattr(b, k)) for k in wanted}
        filters = [eq(columns[k], v) for k, v in wanted.items()]
        out = []
        async for row in self.rows(str(getattr(b, key)), filters, page_size):
            for k, col in columns.items():
                if col not in row:
                    raise ConfigError(
                        f"qad.browses.{k} = {col!r} is not a column of qad.browses.{key} "
                        f"({getattr(b, key)}); its rows have: {', '.join(sorted(row))}"
                    )
            if all(str(row[columns[k]]) == v for k, v in wanted.items()):
                out.append(row)
        return out
