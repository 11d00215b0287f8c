"""One locale per reader, and the one way amounts and dates are written for it (services.formatting)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.formatting import (
    country_name,
    format_clock,
    format_day,
    format_moment,
    format_money,
    format_unit_price,
    reader_locale,
)

NNBSP, NBSP = "\u202f", "\xa0"
DAY = date(2026, 10, 19)
AMOUNT = Decimal("1234.50")


@pytest.mark.parametrize(
    ("language", "country", "locale"),
    [
        ("en", "GB", "en_GB"),
        ("en", "US", "en_US"),
        ("de", "CH", "de_CH"),
        ("fr", "BE", "fr_BE"),
        ("nl", "BE", "nl_BE"),
        ("ja", "JP", "ja_JP"),
        ("fr-BE", None, "fr_BE"),  # a language written with its region keeps it when no country is known
        ("DE", "ch", "de_CH"),  # codes as people type them
        ("de", "GB", "de"),  # not a CLDR locale: the language decides
        ("fr", "US", "fr"),
        ("xx", "BE", "en_BE"),  # an unknown language: English as written in that country
        ("", None, "en"),
        (None, "ZZ", "en"),
    ],
)
def test_the_locale_comes_from_the_language_and_the_country_falling_back_when_cldr_has_no_such_pair(
    language: str | None, country: str | None, locale: str
) -> None:
    assert reader_locale(language, country) == locale


@pytest.mark.parametrize(
    ("locale", "currency", "money", "day"),
    [
        ("en_GB", "GBP", "£1,234.50", "19 October 2026"),
        ("en_US", "USD", "$1,234.50", "October 19, 2026"),
        ("de_CH", "CHF", "CHF\xa01’234.50", "19. Oktober 2026"),
        ("fr_BE", "EUR", f"1{NNBSP}234,50{NBSP}€", "19 octobre 2026"),
        ("nl_BE", "EUR", f"€{NBSP}1.234,50", "19 oktober 2026"),
        ("ja", "JPY", "￥1,235", "2026年10月19日"),  # yen have no minor unit: rounded, no decimals
    ],
)
def test_money_and_dates_are_written_as_a_reader_of_the_locale_writes_them(
    locale: str, currency: str, money: str, day: str
) -> None:
    assert format_money(AMOUNT, currency, locale) == money
    assert format_day(DAY, locale) == day


def test_a_uk_seller_writing_english_formats_the_uk_way_not_the_us_way() -> None:
    locale = reader_locale("en", "GB")

    assert format_money(AMOUNT, "GBP", locale) == "£1,234.50"
    assert format_day(DAY, locale) == "19 October 2026"
    assert format_money(AMOUNT, "CHF", locale) == "CHF1,234.50"


def test_an_unknown_locale_identifier_is_written_in_english_rather_than_failing() -> None:
    assert format_money(AMOUNT, "EUR", "xx_YY") == "€1,234.50"
    assert format_day(DAY, "not a locale") == "October 19, 2026"


def test_unit_prices_keep_every_decimal_given_and_amounts_round_to_the_currency() -> None:
    assert format_unit_price(Decimal("0.125"), "GBP", "en_GB") == "£0.125"
    assert format_unit_price(Decimal("12.5000"), "GBP", "en_GB") == "£12.50"
    assert format_money(Decimal("0.125"), "GBP", "en_GB") == "£0.13"


def test_a_moment_is_written_for_the_team_in_utc() -> None:
    moment = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)

    assert format_moment(moment, "en_GB") == "3 December 2026, 14:05 UTC"
    assert format_moment(moment.replace(tzinfo=None), "de_CH") == "3. Dezember 2026, 14:05 UTC"
    assert format_clock(moment, "en_GB") == "14:05"
    assert format_clock(moment, "en_US") == "2:05\u202fPM"


def test_country_names_are_in_the_readers_language() -> None:
    assert country_name("gr", "en_GB") == "Greece"
    assert country_name("GR", "de_CH") == "Griechenland"
    assert country_name(None, "en_GB") is None
