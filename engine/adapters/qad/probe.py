"""The start-up probe: every configured path and browse exists, before any data moves.

- Entity path: ``GET <path>?domainCode=D``. 200, 400 (exists, key fields missing) and 405
  (exists, write-only step) prove it; anything else is a ConfigError naming ``qad.paths.<key>``,
  the URL probed and what came back.
- Browse: ``page=1&pageSize=1``. A row must hold every column key the engine reads from it
  (else ConfigError naming ``qad.browses.<column key>``); a look-up browse is then filtered on
  its look-up column with that row's value and must find it again (then it is PROVEN). No rows:
  the item and on-hand browses are a ConfigError (wrong id, or an empty tenant); a look-up browse
  stays UNPROVEN with a warning until the first create proves it (see ``idempotent``).
- 429/5xx are retried: a busy tenant says nothing about a path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlencode

from engine.errors import ConfigError, RemoteUnavailable

from .browsing import Browser, eq
from .idempotent import Lookups
from .settings import QadSettings
from .transport import SYSTEM, Transport, loads
from .wire import Doc, retrying

__all__ = ["PRESENT", "Probe"]

log = logging.getLogger(__name__)
PRESENT = (200, 400, 405)
REQUIRED_ROWS = {
    "item": "the tenant has no items",
    "on_hand": "the tenant has no stock",
}


def _first_line(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:200] if text else "(empty body)"


class Probe:
    """Checks one tenant's profile; ``run`` raises ConfigError on the first problem."""

    def __init__(
        self, transport: Transport, settings: QadSettings, browser: Browser, lookups: Lookups
    ) -> None:
        self.t = transport
        self.settings = settings
        self.browser = browser
        self.lookups = lookups

    async def run(self) -> None:
        for key, path in self.entity_paths().items():
            await self.check_path(key, path)
        for key in self.settings.browses.browse_ids():
            await self.check_browse(key)

    def entity_paths(self) -> dict[str, str]:
        """Config key -> path of every entity, and of the validation step under the unplanned
        receipt and issue paths (POST-only: a GET answers 405)."""
        p = self.settings.paths
        paths = dict(p.entity_paths())
        for key in ("unplanned_receives", "unplanned_issues"):
            paths[f"unplanned_validate_step ({key})"] = (
                f"{getattr(p, key)}/{p.unplanned_validate_step}"
            )
        return paths

    def _url(self, path: str, params: Sequence[tuple[str, str]]) -> str:
        return f"{self.t.url(path)}?{urlencode(list(params))}"

    async def _get(self, path: str, params: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
        async def once() -> tuple[int, bytes]:
            status, raw, _ = await self.t.send("GET", path, params=params)
            if status == 429 or status >= 500:
                raise RemoteUnavailable(
                    f"qad probe of {path}: HTTP {status}", status=status, system=SYSTEM
                )
            return status, raw

        return await retrying(once)

    async def check_path(self, key: str, path: str) -> int:
        """The status that proved ``[qad.paths] key``; ConfigError when it does not exist."""
        params = list(self.browser_domain())
        status, raw = await self._get(path, params)
        if status not in PRESENT:
            name = key.split(" ", 1)[0]
            raise ConfigError(
                f"qad.paths.{name} = {path!r} is not on this tenant: GET "
                f"{self._url(path, params)} answered HTTP {status} {_first_line(raw)}; set "
                f"[qad.paths] {name} to the tenant's path (`ml-connector qad discover` lists "
                "what the tenant has)"
            )
        return status

    def browser_domain(self) -> list[tuple[str, str]]:
        return [(self.settings.fields.domain, self.settings.domain)]

    async def _browse_rows(self, key: str, filters: list[str], size: int) -> list[Doc]:
        browse_id = str(getattr(self.settings.browses, key))
        params = self.browser.params(browse_id, 1, size, filters)
        status, raw = await self._get(self.settings.paths.browses, params)
        url = self._url(self.settings.paths.browses, params)
        if status != 200:
            raise ConfigError(
                f"qad.browses.{key} = {browse_id!r}: GET {url} answered HTTP {status} "
                f"{_first_line(raw)}; set [qad.browses] {key} to the tenant's browse id"
            )
        try:
            rows, _ = self.browser.parse(loads(raw))
        except ValueError:
            raise ConfigError(
                f"qad.browses.{key} = {browse_id!r}: GET {url} answered a body that is not "
                f"JSON: {_first_line(raw)}"
            ) from None
        return rows

    async def check_browse(self, key: str) -> str:
        """ "proven" / "unproven" for a look-up browse, "ok" for the others; else ConfigError."""
        b = self.settings.browses
        browse_id = str(getattr(b, key))
        rows = await self._browse_rows(key, [], 1)
        proof = self.lookups.by_browse().get(key)
        if not rows:
            if proof is None:
                why = REQUIRED_ROWS.get(key, "the tenant has no rows for it")
                raise ConfigError(
                    f"qad.browses.{key} = {browse_id!r} answered no rows: wrong browse id, or "
                    f"{why}; set [qad.browses] {key} to the tenant's browse id"
                )
            log.warning(
                "qad.browses.%s = %s answered no rows: its look-up is unproven until the first "
                "%s the engine creates is found by it (wrong browse ids answer no rows too)",
                key,
                browse_id,
                proof.kind,
            )
            return "unproven"
        row = rows[0]
        for column_key, column in b.columns_of(key).items():
            if column not in row:
                raise ConfigError(
                    f"qad.browses.{column_key} = {column!r} is not a column of qad.browses.{key} "
                    f"({browse_id}); its rows have: {', '.join(sorted(row))}"
                )
        if proof is None:
            return "ok"
        return await self._prove(key, proof.column_key, row)

    async def _prove(self, key: str, column_key: str, row: Doc) -> str:
        """Filter the look-up browse on the row's own value: it must come back."""
        b = self.settings.browses
        column = str(getattr(b, column_key))
        value = str(row.get(column) or "")
        if not value or "," in value:
            log.warning(
                "qad.browses.%s: the sample row has no usable %s value; its look-up is "
                "unproven until the first document the engine creates is found by it",
                key,
                column,
            )
            return "unproven"
        again = await self._browse_rows(key, [eq(column, value)], 2)
        if not any(str(r.get(column)) == value for r in again):
            raise ConfigError(
                f"qad.browses.{key} ({getattr(b, key)}) holds a row with {column} = {value!r}, "
                f"but filtering on qad.browses.{column_key} ({column},eq,{value}) did not find "
                "it: look-ups through it would miss documents that exist; check the column key"
            )
        self.lookups.by_browse()[key].prove(f"probe found {column} = {value!r}")
        return "proven"
