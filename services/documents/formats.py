"""Numbers, money, dates and country names the way a reader of the document's language writes them.

Babel carries the CLDR data, so "1.234,50 €", "1 octobre 2026" and "Grèce" are not
maintained by hand here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from services.money import format_money


class DocumentFormats:
    def __init__(self, *, language: str, currency: str) -> None:
        self.language = language
        self.currency = currency

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.currency, self.language)

    def unit_price(self, amount: Decimal) -> str:
        """Unit prices may carry more decimals than the currency (0.125 per item): all are shown."""
        return format_currency(plain_decimal(amount), self.currency, locale=self.language, decimal_quantization=False)

    def quantity(self, amount: Decimal) -> str:
        return format_decimal(plain_decimal(amount), locale=self.language, decimal_quantization=False)

    def rate(self, percent: Decimal) -> str:
        return format_percent(plain_decimal(percent) / 100, locale=self.language, decimal_quantization=False)

    def date(self, value: date) -> str:
        return format_date(value, format="long", locale=self.language)

    def country(self, code: str | None) -> str | None:
        """`GR` → "Greece" / "Grèce": a reader knows the name, not always the ISO code."""
        if not code:
            return None
        return Locale.parse(self.language).territories.get(code.upper(), code.upper())


def plain_decimal(amount: Decimal) -> Decimal:
    """`Decimal('1.0000')` → 1 and `Decimal('1E+2')` → 100, so no stray zeros or exponents print."""
    normalised = amount.normalize()
    exponent = normalised.as_tuple().exponent
    return normalised.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normalised
