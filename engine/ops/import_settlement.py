"""``import settlement``: settlement flat files downloaded from Seller Central into the log.

Amazon lists settlement reports through the API for 90 days only; a company going live wants the
year to date. Each file is parsed and reconciled by the poller's own code
(engine/pollers/settlement_events.py) and appended as the same ``SettlementFetched`` event, keyed
by the settlement id. Identity: a settlement already in the log (polled or imported before) is
not appended again, and the poller skips a settlement that was imported, so nothing is posted
twice. All files are read first: one that does not parse or does not reconcile stops the
import before anything is appended.

The layout (decimal separator, date order) comes from the configured marketplace settling in
the file's currency (``[mapping.marketplaces.<id>] settlement_locale`` or its default); the
charset from a BOM, else UTF-8 when the bytes are UTF-8, else that locale's legacy charset
(cp1252, cp932 for JP), or the region's when the marketplaces settling in it disagree.

Either backend (``[engine] db`` a file or a PostgreSQL URL). A PostgreSQL log takes writers
beside this one, so the identity check is made again inside the transaction appending the
header, which holds the log's head (another appender waits): two imports of one settlement
never both append it. ``--dry-run`` opens the log read-only (``open_import_log``).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.adapters.amazon.document_text import peek_settlement_currency
from engine.adapters.amazon.reports import Document, open_text
from engine.adapters.amazon.settlement import MAX_LINE_CHARS, ParsedSettlement, SettlementError
from engine.adapters.amazon.settlement_locale import charset_for, locale_picker
from engine.config import Config
from engine.config.database import is_postgresql_url
from engine.config.marketplaces import MARKETPLACE_REGION, REGIONS
from engine.errors import ConfigError, EngineError, ParseError, StoreError
from engine.log.opening import open_event_log
from engine.log.ports import EventLog
from engine.pollers.settlement_events import (
    SettlementSource,
    fetched_event,
    read_settlement,
    settlement_in_log,
)

__all__ = ["ImportError_", "Imported", "import_settlements", "open_import_log"]


class ImportError_(EngineError):
    """A file that cannot be imported (exit 1): nothing of any file was appended."""


@dataclass(frozen=True, slots=True)
class Imported:
    """One file's outcome: ``status`` "appended", "already in the log" or "would append"."""

    file: Path
    settlement_id: str
    currency: str
    total: str
    rows: int
    locale: str
    region: str
    status: str


def _region(cfg: Config, currency: str, forced: str | None, path: Path) -> str:
    if forced:
        if forced not in REGIONS:
            raise ConfigError(f"--region {forced!r}: one of {', '.join(REGIONS)}")
        return forced
    if not currency:
        return "NA"  # no summary row found: the parse names what is wrong with the file
    regions = {
        MARKETPLACE_REGION.get(mp, "")
        for mp, m in cfg.mapping.marketplaces.items()
        if m.currency.strip().upper() == currency
    }
    regions.discard("")
    if len(regions) != 1:
        which = "no configured marketplace" if not regions else "marketplaces of several regions"
        raise ImportError_(
            f"{path}: {which} settle in {currency or 'its currency'} "
            f"([mapping.marketplaces]); pass --region {'|'.join(REGIONS)}"
        )
    return regions.pop()


def _source(cfg: Config, path: Path, region_opt: str | None) -> SettlementSource:
    try:
        with path.open("rb") as head:  # closed at once: an import may read many files
            data_head = head.read(2)
    except OSError as exc:
        raise ImportError_(f"{path}: cannot be read: {exc.strerror}") from None
    compressed = data_head == b"\x1f\x8b"
    h = hashlib.sha256()
    size = 0
    opener = gzip.open if compressed else open
    with opener(path, "rb") as raw:
        while chunk := raw.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    doc = Document(path, compressed, None, h.hexdigest(), size)
    currency = peek_settlement_currency(doc)
    region = _region(cfg, currency, region_opt, path)
    # A file that is not UTF-8 is read in its marketplace locale's legacy charset.
    legacy = charset_for(cfg.mapping.marketplaces, region, currency)

    def lines() -> Iterator[str]:
        return open_text(doc, region=region, max_line=MAX_LINE_CHARS, fallback=legacy)

    return SettlementSource(
        doc,
        region,
        f"file:{doc.sha256[:16]}",
        f"import:{path.name}",
        lines,
        pick=locale_picker(cfg.mapping.marketplaces, region),
    )


def _raw_import_dir(cfg: Config) -> Path:
    """Where imported files are kept: ``[poll] raw_dir``/import, else beside an SQLite log
    file; a PostgreSQL log has no folder of its own (as for the poller, engine/ops/engine.py)."""
    if cfg.poll.raw_dir:
        return Path(cfg.poll.raw_dir) / "import"
    if is_postgresql_url(cfg.engine.db):
        raise ConfigError(
            "[poll] raw_dir must be set when [engine] db is a PostgreSQL URL (an imported file "
            "is kept there as the poller keeps its downloads, e.g. "
            'raw_dir = "/var/lib/ml-connector/raw")'
        )
    return Path(cfg.engine.db).parent / "raw" / "import"


def _keep_raw(raw: Path, src: SettlementSource) -> None:
    """A copy beside the downloaded reports (raw/import/<sha256>), as the poller keeps its own."""
    raw.mkdir(parents=True, exist_ok=True)
    target = raw / (src.doc.sha256 + (".txt.gz" if src.doc.compressed else ".txt"))
    if not target.exists():
        shutil.copyfile(src.doc.path, target)


async def import_settlements(
    cfg: Config, files: Sequence[Path], *, dry_run: bool = False, region: str | None = None
) -> list[Imported]:
    """Parse and reconcile every file, then (unless ``dry_run``) append the new settlements."""
    if not files:
        raise ConfigError("no settlement file given")
    parsed_all = []
    for path in files:
        src = _source(cfg, path, region)
        try:
            parsed = read_settlement(src)
        except (SettlementError, ParseError) as exc:
            unreconciled = getattr(exc, "reason_code", "") == "unreconciled"
            what = "does not reconcile" if unreconciled else "does not parse"
            raise ImportError_(f"{path}: {what}: {exc}; nothing was imported") from None
        parsed_all.append((path, src, parsed))
    raw = None if dry_run else _raw_import_dir(cfg)  # refused before anything is appended
    out: list[Imported] = []
    async with open_import_log(cfg.engine.db, dry_run=dry_run) as log:
        if log is None:  # a dry run on a log not created yet: everything is new
            return [_row(path, src, parsed, "would append") for path, src, parsed in parsed_all]
        seen: set[str] = set()
        for path, src, parsed in parsed_all:
            sid = parsed.summary.settlement_id
            if sid in seen or await settlement_in_log(log, sid):
                status = "already in the log"
            elif raw is None:
                status = "would append"
            else:
                status = await _append(log, raw, src, parsed)
            seen.add(sid)
            out.append(_row(path, src, parsed, status))
    return out


async def _append(log: EventLog, raw: Path, src: SettlementSource, parsed: ParsedSettlement) -> str:
    _keep_raw(raw, src)
    # Chunks (a big file) first, then the header: as the poller appends them. The chunks go in
    # their own transactions (a long one would hold the head from every other appender); a
    # chunk appended again dedupes, one whose header lost the race below is never read.
    event = await fetched_event(src, parsed, log.append)
    async with log.transaction() as tx:
        await tx.append([])  # takes the head now: the check below sees every committed append
        if await settlement_in_log(log, parsed.summary.settlement_id):
            return "already in the log"
        await tx.append([event])
    return "appended"


@asynccontextmanager
async def open_import_log(db: str, *, dry_run: bool) -> AsyncIterator[EventLog | None]:
    """The log an import appends to; read-only for a dry run, and None when a dry run finds no
    log there yet (a missing SQLite file, a PostgreSQL database without the log's tables):
    nothing is created by a dry run."""
    if dry_run and not is_postgresql_url(db) and not Path(db).exists():
        yield None
        return
    async with AsyncExitStack() as stack:
        try:
            log: EventLog | None = await stack.enter_async_context(
                open_event_log(db, readonly=dry_run)
            )
        except StoreError as exc:
            if not (dry_run and _no_log_yet(db, exc)):
                raise
            log = None
        yield log


def _no_log_yet(db: str, exc: StoreError) -> bool:
    if not is_postgresql_url(db):
        return False
    from engine.log.postgres_schema import NoEventLog  # psycopg: only once a URL was opened

    return isinstance(exc, NoEventLog)


def _row(path: Path, src: SettlementSource, parsed: ParsedSettlement, status: str) -> Imported:
    s = parsed.summary
    return Imported(
        path,
        s.settlement_id,
        s.currency,
        str(s.total_amount),
        parsed.row_count,
        parsed.locale,
        src.region,
        status,
    )
