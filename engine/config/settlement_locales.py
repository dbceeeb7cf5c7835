"""Settlement file locales: how each Amazon marketplace writes numbers, dates and bytes.

A pure table in the config layer (``[mapping.marketplaces.<id>] settlement_locale`` is checked
against it at load time; the settlement parser and the import command read it).

Evidence (README "Settlement file locales" repeats this table):
- [D] Amazon's V2 deprecation notice: ``posted-date`` is a short date (MM/DD/YY in the US
  example), ``posted-date-time`` is ``YYYY-MM-DD HH:MM:SS UTC``, amounts use the marketplace's
  number format (``95,00`` in the EU).
- [C] community parsers/fixtures modelled on real files: NA header dates ISO
  (``2026-03-01 07:00:00 UTC``), EU (DE) header dates ``01.03.2026 00:00:00 UTC`` and
  ``posted-date`` ``05.03.2026``; JP files in Shift_JIS/cp932, EU files served as Cp1252.
- [C, by analogy] Airbyte's per-marketplace date map for other localised flat files: US M/D/YY,
  DE D.M.YY, SE ISO, JP YY/M/D, every other marketplace D/M/YY. That is why CA and MX default to
  day-first here (the earlier parser guessed month-first from the currency: [U]).
- [I] decimal separator of the remaining marketplaces from the country's number format;
  [G] the charset fallbacks beyond NA/EU/JP. The charset in a download's Content-Type (or a
  BOM, or the bytes being valid UTF-8) always wins; the locale's is the last fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOCALES", "MARKETPLACE_LOCALE", "SettlementLocale", "default_locale"]


@dataclass(frozen=True, slots=True)
class SettlementLocale:
    """One file layout: decimal separator, order of slashed dates, charset fallback."""

    code: str
    decimal_comma: bool
    date_order: str  # "MDY" | "DMY" | "YMD" for slashed dates; ISO and dotted are unambiguous
    charset: str  # Python codec used when the download names no charset and is not UTF-8


LOCALES: dict[str, SettlementLocale] = {
    loc.code: loc
    for loc in (
        SettlementLocale("US", False, "MDY", "cp1252"),  # 1,234.56  03/31/26
        SettlementLocale("UK", False, "DMY", "cp1252"),  # 1,234.56  31/03/2026
        SettlementLocale("DE", True, "DMY", "cp1252"),  # 1.234,56  31.03.2026
        SettlementLocale("EU", True, "DMY", "cp1252"),  # 1.234,56  31/03/2026
        SettlementLocale("JP", False, "YMD", "cp932"),  # 1,234     2026/03/31
    )
}

# Default locale of every marketplace in engine.config.marketplaces (kept equal by a test).
MARKETPLACE_LOCALE: dict[str, str] = {
    "ATVPDKIKX0DER": "US",  # US  USD [D] MM/DD/YY
    "A2EUQ1WTGCTBG2": "UK",  # CA  CAD [C by analogy] D/M/YY, decimal point
    "A1AM78C64UM0Y8": "UK",  # MX  MXN [C by analogy] D/M/YY, decimal point [I]
    "A2Q3Y263D00KWC": "EU",  # BR  BRL [I] 1.234,56 D/M/Y
    "A1F83G8C2ARO7P": "UK",  # UK  GBP [C] D/M/Y, decimal point
    "A1PA6795UKMFR9": "DE",  # DE  EUR [C] D.M.Y, decimal comma [D]
    "A13V1IB3VIYZZH": "EU",  # FR  EUR [D] decimal comma, [C] D/M/Y
    "APJ6JRA9NG5V4": "EU",  # IT  EUR
    "A1RKKUPIHCS9HS": "EU",  # ES  EUR
    "A1805IZSGTT6HS": "EU",  # NL  EUR
    "AMEN7PMS3EDWL": "EU",  # BE  EUR
    "A28R8C7NBKEWEA": "UK",  # IE  EUR [G] English-language store: decimal point
    "A2NODRKZP88ZB9": "EU",  # SE  SEK [C] ISO dates, [I] decimal comma
    "A1C3SOZRARQ6R3": "DE",  # PL  PLN [I] D.M.Y, decimal comma
    "A33AVAJ2PDY3EV": "DE",  # TR  TRY [I] D.M.Y, decimal comma
    "AE08WJ6YKNBMC": "UK",  # ZA  ZAR [G]
    "ARBP9OOSHTCHU": "UK",  # EG  EGP [G]
    "A17E79C6D8DWNP": "UK",  # SA  SAR [G]
    "A2VIGQ35RCS4UG": "UK",  # AE  AED [G]
    "A21TJRUUN4KGV": "UK",  # IN  INR [C by analogy] D/M/YY, decimal point [I]
    "A19VAU5U5O7RUS": "UK",  # SG  SGD [C by analogy]
    "A39IBJ37TRP1C6": "UK",  # AU  AUD [C by analogy]
    "A1VC38T7YXB528": "JP",  # JP  JPY [C] YY/M/D, cp932
}


def default_locale(marketplace_id: str) -> str:
    """The default locale code of a marketplace ("UK", day-first with a point, if unknown)."""
    return MARKETPLACE_LOCALE.get(marketplace_id, "UK")
