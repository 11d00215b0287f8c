"""How amounts and dates are written for one reader: one locale, one function per kind of value.

Every surface formats through here — Slack (due list, review modal, `show`, status
messages), the email, the PDF, the invoice link page and the CLI — so one invoice shows
one amount and one date everywhere its reader looks. Babel carries the CLDR data, so
"£1,234.50", "CHF 1’234.50", "19 October 2026" and "19. Oktober 2026" are not written by
hand here.

The reader decides the locale: a document (email, PDF, UBL, link page) is read by the
customer, in the document's language with the seller's country (`document_locale`); Slack
and the CLI are read by the team, in the organisation's default language and country.
Locales travel as identifier strings (`"en_GB"`), which pickle into the render pool and
compare cheaply; the parsed `babel.Locale` objects are cached, since the due list formats
on its hot path.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.numbers import format_currency, format_decimal, format_percent

from services.money import round_money

DEFAULT_LOCALE = "en"


@lru_cache(maxsize=1024)
def reader_locale(language: str | None, country: str | None) -> str:
    """The CLDR locale of a reader of `language` in `country`, as an identifier.

    English in GB → `en_GB`, German in CH → `de_CH`. When the pair is not a CLDR locale
    (German in GB) the language alone decides (`de`); an unknown language is read as
    English of that country when CLDR has one (`en_BE`), else plain English. A language
    written with its own region (`fr-BE`) keeps it when no country is given.
    """
    parts = [part for part in re.split(r"[-_]", (language or "").strip()) if part]
    base = parts[0].lower() if parts else ""
    region = (country or "").strip().upper() or (parts[-1].upper() if len(parts) > 1 else "")
    candidates = [f"{base}_{region}", base] if region else [base]
    candidates += [f"{DEFAULT_LOCALE}_{region}"] if region else []
    for identifier in candidates:
        found = _parsed(identifier)
        if found is not None and str(found) == identifier:  # babel reads `en_ZZ` as en_US: not this reader
            return identifier
    return DEFAULT_LOCALE


@lru_cache(maxsize=1024)
def _parsed(identifier: str) -> Locale | None:
    if not identifier or identifier.startswith("_"):
        return None
    try:
        return Locale.parse(identifier)
    except (UnknownLocaleError, ValueError):
        return None


def _locale(identifier: str) -> Locale:
    """The cached `Locale` of an identifier; an identifier CLDR does not know reads as English."""
    return _parsed(identifier) or _default()


@cache
def _default() -> Locale:
    return Locale.parse(DEFAULT_LOCALE)


@lru_cache(maxsize=4096)
def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """`£1,234.50` (en_GB), `CHF 1’234.50` (de_CH), `￥1,235` (ja): the currency's own decimals.

    Rounded half up first (`round_money`, as the totals are): babel alone rounds half to even.
    Cached (bounded): babel takes ~40 µs an amount, and a due list shows the same page's
    amounts again on every refresh; equal amounts (1.5 and 1.50) format alike, so a hit is exact.
    """
    return format_currency(round_money(amount, currency), currency, locale=_locale(locale))


def format_balance(total: Decimal, paid: Decimal, currency: str, locale: str, credited: Decimal = Decimal(0)) -> str:
    """`Total €1,200.00 · paid €200.00 · €1,000.00 left to pay` once a payment was recorded; the total
    alone (`€1,200.00`) while nothing is paid. The one way Slack shows an amount that may be partly paid
    ("left to pay", not "due": the due list's next words are the due date's)."""
    if not paid and not credited:
        return format_money(total, currency, locale)
    parts = [f"Total {format_money(total, currency, locale)}"]
    parts += [f"paid {format_money(paid, currency, locale)}"] if paid else []
    parts += [f"credited {format_money(credited, currency, locale)}"] if credited else []
    return " · ".join([*parts, f"{format_money(total - paid - credited, currency, locale)} left to pay"])


def format_unit_price(amount: Decimal, currency: str, locale: str) -> str:
    """A unit price may carry more decimals than the currency (0.125 per item): all are shown."""
    return format_currency(plain_decimal(amount), currency, locale=_locale(locale), decimal_quantization=False)


def format_quantity(amount: Decimal, locale: str) -> str:
    return format_decimal(plain_decimal(amount), locale=_locale(locale), decimal_quantization=False)


def format_rate(percent: Decimal, locale: str) -> str:
    """A tax rate given in percent (20 for 20 %), written as the reader writes percentages."""
    return format_percent(plain_decimal(percent) / 100, locale=_locale(locale), decimal_quantization=False)


@lru_cache(maxsize=8192)
def format_day(day: date, locale: str) -> str:
    """`19 October 2026` (en_GB), `October 19, 2026` (en_US), `19. Oktober 2026` (de_CH).

    Cached (bounded): a due list shows the same few dates over and over.
    """
    return babel_format_date(day, format="long", locale=_locale(locale))


def format_moment(moment: datetime, locale: str) -> str:
    """A point in time for the team: `19 October 2026, 14:05 UTC` (times are shown in UTC)."""
    at = _utc(moment)
    return f"{format_day(at.date(), locale)}, {format_clock(at, locale)} UTC"


def format_clock(moment: datetime, locale: str) -> str:
    """The time of day in UTC, without the zone: `14:05` (en_GB), `2:05 PM` (en_US)."""
    return babel_format_time(_utc(moment), format="short", tzinfo=UTC, locale=_locale(locale))


def _utc(moment: datetime) -> datetime:
    """Stored times are UTC; a naive one (SQLite) is taken as such."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def country_name(code: str | None, locale: str) -> str | None:
    """`GR` → "Greece" / "Griechenland": a reader knows the name, not always the ISO code."""
    if not code:
        return None
    name: str = _locale(locale).territories.get(code.upper(), code.upper())
    return name


def plain_decimal(amount: Decimal) -> Decimal:
    """`Decimal('1.0000')` → 1 and `Decimal('1E+2')` → 100, so no stray zeros or exponents print."""
    normalised = amount.normalize()
    exponent = normalised.as_tuple().exponent
    return normalised.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normalised
