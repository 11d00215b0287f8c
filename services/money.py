"""Money: ISO 4217 currencies, their minor units, and rounding. Decimal only, never float.

Writing an amount for a reader is `services.formatting.format_money`'s job (one locale per reader).

Babel carries the CLDR currency data, so the list of currencies and their decimals
(JPY 0, EUR 2, KWD 3) is not maintained by hand here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.numbers import get_currency_precision, list_currencies


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code, or raise ValueError naming it."""
    normalised = (code or "").strip().upper()
    if len(normalised) != 3 or normalised not in _known_currencies():
        raise ValueError(f"unknown currency {code!r} (expected an ISO 4217 code such as EUR)")
    return normalised


@cache
def minor_units(currency: str) -> int:
    return int(get_currency_precision(currency))


@cache
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (commercial rounding, as EN 16931 expects)."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)
