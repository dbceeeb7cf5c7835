"""Reading a downloaded report document back: its bytes (gunzipped) and its decoded lines.

Split from ``engine.adapters.amazon.reports`` (which downloads): parsers run in a worker thread
and read only through here, so how a document is read off disk is decided in one place.
"""

from __future__ import annotations

import codecs
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine.errors import ParseError

__all__ = [
    "MAX_LINE_CHARS",
    "READ_BUFFER_BYTES",
    "Document",
    "open_binary",
    "open_text",
    "peek_settlement_currency",
]

MAX_LINE_CHARS = 1 << 20  # one report line; real ones are under 2 KB
_REGION_FALLBACK = {"FE": "cp932", "NA": "cp1252", "EU": "cp1252"}


@dataclass(frozen=True, slots=True)
class Document:
    """A downloaded report document on disk."""

    path: Path
    compressed: bool
    charset: str | None  # from Content-Type, Python codec name, None if the server gave none
    sha256: str  # of the decoded (gunzipped) bytes
    size: int  # decoded bytes


# Documents are parsed in a worker thread while the event loop keeps running. A parser that
# reads in 8 KB steps (TextIOWrapper's chunk, which BufferedReader.read1 serves straight from the
# file) gives up the GIL at every read and takes it straight back; each hand-off wakes the loop
# thread, which loses the race and starts its 5 ms wait again, so it never asks for the GIL
# (CPython's convoy effect): a 36 MB settlement stalled the loop for up to 1 s that way. Reading
# a MiB at a time leaves the parser running bytecode for tens of ms between reads, where the
# interpreter does hand the GIL over after 5 ms.
READ_BUFFER_BYTES = 1 << 20


def open_binary(path: Path, compressed: bool, buffer_bytes: int = READ_BUFFER_BYTES) -> BinaryIO:
    """A document's bytes (gunzipped when ``compressed``), read from the file in large steps
    (``buffer_bytes``; see READ_BUFFER_BYTES)."""
    if compressed:
        return io.BufferedReader(gzip.open(path, "rb"), buffer_size=buffer_bytes)
    return path.open("rb", buffering=buffer_bytes)


def open_text(
    doc: Document,
    *,
    region: str = "NA",
    max_line: int = MAX_LINE_CHARS,
    fallback: str | None = None,
) -> Iterator[str]:
    """Decoded lines of a document (streamed). Charset: BOM, Content-Type, UTF-8 when the bytes
    are UTF-8, then ``fallback`` (the marketplace locale's legacy charset) or the region's.

    A line over ``max_line`` characters (terminator not counted) raises ParseError "line N: line
    too long" after reading at most ``max_line + 2`` of them: one 400 MB line must not become a
    400 MB string.
    """
    with open_binary(doc.path, doc.compressed) as raw:
        head = raw.read(4)
        raw.seek(0)
        if head.startswith(codecs.BOM_UTF8):
            enc = "utf-8-sig"
        elif doc.charset is not None:
            enc = "utf-8-sig" if doc.charset == "utf-8" else doc.charset
        else:
            enc = _sniff(doc, fallback or _REGION_FALLBACK.get(region, "cp1252"))
        text = io.TextIOWrapper(raw, encoding=enc, errors="strict", newline="")
        text._CHUNK_SIZE = READ_BUFFER_BYTES  # type: ignore[attr-defined]  # see READ_BUFFER_BYTES
        readline, cap, n = text.readline, max_line + 2, 0  # +2: room for "\r\n"
        try:
            while line := readline(cap):
                n += 1
                if len(line) > max_line and len(line.rstrip("\r\n")) > max_line:
                    raise ParseError(f"line {n}: line too long (over {max_line} characters)")
                yield line
        except UnicodeDecodeError as exc:
            raise ParseError(f"document not decodable as {enc}: {exc.reason}") from None
        finally:
            # An abandoned generator (the parser raised early) may be closed by the garbage
            # collector after the file itself: detaching would then raise in a finalizer.
            if not raw.closed:
                text.detach()


def _sniff(doc: Document, legacy: str) -> str:
    """No charset given: UTF-8 if the whole file decodes as UTF-8, else ``legacy``."""
    dec = codecs.getincrementaldecoder("utf-8")()
    with open_binary(doc.path, doc.compressed) as raw:
        try:
            while chunk := raw.read(1 << 20):
                dec.decode(chunk)
            dec.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            return legacy


def peek_settlement_currency(doc: Document) -> str:
    """A settlement file's currency from its summary row, read bytewise before the charset is
    known (the column is ASCII in every charset Amazon uses); "" when there is none."""
    with open_binary(doc.path, doc.compressed) as raw:
        head = raw.readline(MAX_LINE_CHARS).decode("latin-1").lstrip("\ufeffï»¿")
        names = [c.strip().lower() for c in head.rstrip("\r\n").split("\t")]
        if "currency" not in names or "transaction-type" not in names:
            return ""
        ci, ti = names.index("currency"), names.index("transaction-type")
        for _ in range(1000):  # the summary row is the first data row in real files
            cells = raw.readline(MAX_LINE_CHARS).decode("latin-1").rstrip("\r\n").split("\t")
            if not cells or cells == [""]:
                break
            if len(cells) > max(ci, ti) and not cells[ti].strip():
                return cells[ci].strip().upper()
    return ""
