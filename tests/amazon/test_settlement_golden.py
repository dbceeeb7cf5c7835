"""Golden settlement files, one per marketplace, each in that marketplace's own layout.

tests/golden/settlements/<mp>.txt are hand-made V2 flat files (README there: the evidence
behind each layout). Each is read the way the engine reads a download without a charset
(``open_text``: BOM, UTF-8 or the marketplace locale's legacy charset) and parsed with the
locale the marketplace's config picks, and must give these exact Decimal totals and UTC
dates. The dates are chosen ambiguous (01/03, 04/03): a wrong day/month order fails the test,
never passes it.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from engine.adapters.amazon.document_text import peek_settlement_currency
from engine.adapters.amazon.reports import Document, open_text
from engine.adapters.amazon.settlement import SettlementError, parse_settlement
from engine.adapters.amazon.settlement_locale import charset_for, locale_picker
from engine.config import MarketplaceMap
from engine.config.marketplaces import MARKETPLACE_REGION
from engine.config.settlement_locales import MARKETPLACE_LOCALE

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "settlements"

# file: (marketplace id, currency, total, first Principal, SKU as decoded, locale picked)
CASES = {
    "US": ("ATVPDKIKX0DER", "USD", "1073.76", "1234.56", "MLC-1200-F", "US"),
    "CA": ("A2EUQ1WTGCTBG2", "CAD", "1073.76", "1234.56", "MLC-1210-M", "UK"),
    "MX": ("A1AM78C64UM0Y8", "MXN", "18253.92", "20987.52", "CAFÉ-01", "UK"),
    "UK": ("A1F83G8C2ARO7P", "GBP", "1073.76", "1234.56", "MLC-£-1", "UK"),
    "DE": ("A1PA6795UKMFR9", "EUR", "1073.76", "1234.56", "MÜSLI-01", "DE"),
    "FR": ("A13V1IB3VIYZZH", "EUR", "1073.76", "1234.56", "CRÊPE-01", "EU"),
    "IT": ("APJ6JRA9NG5V4", "EUR", "1073.76", "1234.56", "CAFFÈ-01", "EU"),
    "ES": ("A1RKKUPIHCS9HS", "EUR", "1073.76", "1234.56", "AÑO-01", "EU"),
    "JP": ("A1VC38T7YXB528", "JPY", "161064", "185184", "商品-01", "JP"),
    "IN": ("A21TJRUUN4KGV", "INR", "96638.40", "111110.40", "MLC-₹-1", "UK"),
    "AU": ("A39IBJ37TRP1C6", "AUD", "1610.64", "1851.84", "MLC-CAFÉ-1", "UK"),
}


def _lines(name: str, region: str, fallback: str | None = None) -> list[str]:
    path = GOLDEN / f"{name}.txt"
    data = path.read_bytes()
    doc = Document(path, False, None, hashlib.sha256(data).hexdigest(), len(data))
    return list(open_text(doc, region=region, fallback=fallback))


def _engine_lines(name: str, marketplaces: dict[str, MarketplaceMap], region: str) -> list[str]:
    """Read as the poller and the import do: the locale's charset picked by the currency."""
    path = GOLDEN / f"{name}.txt"
    data = path.read_bytes()
    doc = Document(path, False, None, hashlib.sha256(data).hexdigest(), len(data))
    legacy = charset_for(marketplaces, region, peek_settlement_currency(doc))
    return list(open_text(doc, region=region, fallback=legacy))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_file_parses_to_exact_totals_and_utc_dates(name: str) -> None:
    mp, currency, total, principal, sku, locale = CASES[name]
    region = MARKETPLACE_REGION[mp]
    marketplaces = {mp: MarketplaceMap(customer="AMZ", currency=currency)}
    pick = locale_picker(marketplaces, region)
    parsed = parse_settlement(_engine_lines(name, marketplaces, region), pick=pick)
    s = parsed.summary
    assert parsed.locale == locale == MARKETPLACE_LOCALE[mp]
    assert (s.currency, s.total_amount, parsed.detail_sum) == (
        currency,
        Decimal(total),
        s.total_amount,
    )
    assert str(s.total_amount) == total  # the cents (or yen) exactly, no float on the way
    assert [d.isoformat() for d in (s.start, s.end, s.deposit_date)] == [  # type: ignore[union-attr]
        "2026-03-01T08:00:00+00:00",
        "2026-03-15T08:00:00+00:00",
        "2026-03-17T08:00:00+00:00",
    ]
    rows = parsed.rows
    assert parsed.row_count == len(rows) == 10
    assert rows[0]["amount"] == principal and rows[0]["quantity"] == 2
    assert rows[0]["sku"] == sku  # the charset decoded (cp1252 / cp932 / UTF-8)
    # Rows without posted-date-time fall back to the short posted-date in the locale's order.
    assert rows[0]["posted_date"] == "2026-03-04T00:00:00Z"
    assert rows[4]["posted_date"] == "2026-03-13T21:40:05Z"
    assert rows[6]["posted_date"] == "2026-03-14T00:00:00Z"
    assert rows[6]["quantity"] == -1 and Decimal(rows[6]["amount"]) < 0
    by_desc: dict[str, Decimal] = {}
    for r in rows:
        by_desc[r["amount_description"]] = by_desc.get(
            r["amount_description"], Decimal(0)
        ) + Decimal(r["amount"])
    assert sum(by_desc.values()) == Decimal(total)


def test_configured_override_reaches_the_parser() -> None:
    """``settlement_locale = "US"`` on CA reads its day-first posted-dates month-first: 14/03/26
    is then no date, and the file is refused whole (the default, day-first, reads it)."""
    mp = "A2EUQ1WTGCTBG2"
    cfg = {mp: MarketplaceMap(customer="AMZ-CA", currency="CAD", settlement_locale="US")}
    with pytest.raises(SettlementError, match="14/03/26"):
        parse_settlement(_lines("CA", "NA"), pick=locale_picker(cfg, "NA"))
    other_region = locale_picker(cfg, "EU")  # a CAD file polled in EU: not this marketplace
    assert other_region("CAD") is None


def test_dmy_file_read_month_first_is_refused_or_different() -> None:
    """The UK file as US: 15/03/2026 has no month 15, so it is refused, never misdated."""
    with pytest.raises(SettlementError):
        parse_settlement(_lines("UK", "EU"), locale="US")


def test_every_known_marketplace_has_a_default_locale() -> None:
    assert set(MARKETPLACE_LOCALE) == set(MARKETPLACE_REGION)


def test_unknown_locale_in_config_is_refused(tmp_path: Path) -> None:
    from engine.config import load_config
    from engine.errors import ConfigError

    path = tmp_path / "config.toml"
    body = '[mapping.marketplaces.A2EUQ1WTGCTBG2]\ncustomer = "AMZ-CA"\ncurrency = "CAD"\n'
    path.write_text(body + 'settlement_locale = "US"\n', encoding="utf-8")
    assert load_config(path).mapping.marketplaces["A2EUQ1WTGCTBG2"].settlement_locale == "US"
    path.write_text(body + 'settlement_locale = "CA"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="settlement_locale"):
        load_config(path)


def test_the_locale_charset_not_the_region_decides() -> None:
    """AU settles in the Far East region, whose fallback is cp932, but its locale's charset is
    cp1252: read by the region alone, the cp1252 \u00c9 decodes *without error* as a katakana."""
    mp = "A39IBJ37TRP1C6"
    marketplaces = {mp: MarketplaceMap(customer="AMZ-AU", currency="AUD")}
    by_region = parse_settlement(_lines("AU", "FE"), pick=locale_picker(marketplaces, "FE"))
    assert by_region.rows[0]["sku"] != "MLC-CAF\u00c9-1"  # the silent misreading fixed here
    by_locale = parse_settlement(
        _engine_lines("AU", marketplaces, "FE"), pick=locale_picker(marketplaces, "FE")
    )
    assert by_locale.rows[0]["sku"] == "MLC-CAF\u00c9-1"
    assert charset_for(marketplaces, "FE", "AUD") == "cp1252"
    assert charset_for(marketplaces, "FE", "AUD", forced="JP") == "cp932"
    jp_too = {**marketplaces, "A1VC38T7YXB528": MarketplaceMap(customer="J", currency="AUD")}
    assert charset_for(jp_too, "FE", "AUD") is None  # locales disagree: the region decides
