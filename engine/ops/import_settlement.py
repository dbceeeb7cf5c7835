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
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.adapters.amazon.document_text import peek_settlement_currency
from engine.adapters.amazon.reports import Document, open_text
from engine.adapters.amazon.settlement import MAX_LINE_CHARS, ParsedSettlement, SettlementError
from engine.adapters.amazon.settlement_locale import charset_for, locale_picker
from engine.config import Config
from engine.config.marketplaces import MARKETPLACE_REGION, REGIONS
from engine.errors import ConfigError, EngineError, ParseError
from engine.log.sqlite import SQLiteEventLog
from engine.pollers.settlement_events import (
    SettlementSource,
    fetched_event,
    read_settlement,
    settlement_in_log,
)

__all__ = ["ImportError_", "Imported", "import_settlements"]


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
        data_head = path.open("rb").read(2)
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


def _keep_raw(cfg: Config, src: SettlementSource) -> None:
    """A copy beside the downloaded reports (raw/import/<sha256>), as the poller keeps its own."""
    raw = Path(cfg.poll.raw_dir or Path(cfg.engine.db).parent / "raw") / "import"
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
    db = Path(cfg.engine.db)
    if dry_run and not db.exists():
        return [_row(path, src, parsed, "would append") for path, src, parsed in parsed_all]
    out: list[Imported] = []
    async with SQLiteEventLog.open(db, readonly=dry_run) as log:
        seen: set[str] = set()
        for path, src, parsed in parsed_all:
            sid = parsed.summary.settlement_id
            if sid in seen or await settlement_in_log(log, sid):
                status = "already in the log"
            elif dry_run:
                status = "would append"
            else:
                _keep_raw(cfg, src)
                # Chunks (a big file) first, then the header: as the poller appends them.
                event = await fetched_event(src, parsed, log.append)
                await log.append([event])
                status = "appended"
            seen.add(sid)
            out.append(_row(path, src, parsed, status))
    return out


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
