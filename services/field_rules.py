"""What a field may hold at the door: the one place these rules live.

Whatever gets in must later render into a PDF, a UBL (XML) file and an email, so a value
that cannot is refused where it is typed or imported — the import file, the review modal,
the command line — with the field named, instead of failing at send time with a message
that blames "the receiving server". `services.importing.records` (CSV and JSON import) and
`services.sending.checks` (the review modal) both call these checks.

The rules:
- text: no control or format characters (Unicode categories Cc and Cf: NUL, ESC, bidi
  overrides and isolates U+202A–U+202E and U+2066–U+2069, soft hyphen, BOM, …), no lone
  surrogates (Cs), no U+FFFE/U+FFFF, no U+2028/U+2029 separators. A multi-line field also
  takes line breaks and tabs. ZWNJ and ZWJ (U+200C, U+200D) are allowed: several scripts
  need them to spell words, and they are neither bidi nor control characters.
- dates: from `EARLIEST_DATE` to `LATEST_DATE`.
- amounts: finite, below `MAX_AMOUNT`, and no finer than the currency's minor unit (EUR 2
  decimals, JPY 0, KWD 3 — `services.money`) where the amount is a money total.
- languages: one of the languages we ship wording for (`SUPPORTED_LANGUAGES`).
- VAT numbers: python-stdnum's check for the country when it has one (`check_vat_number`).
- bank details: an IBAN (country format and check digits) and a BIC, checked by python-stdnum
  (`check_iban`, `check_bic`); stored compact, the IBAN shown in blocks of four (`iban_shown`).
- attachments: one of `Attachments` — an unknown choice is refused, never read as PDF.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from functools import cache

from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.util import get_cc_module

from services.db.models import Attachments
from services.languages import SUPPORTED_LANGUAGES, base_language
from services.money import minor_units

EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
MAX_AMOUNT = Decimal("1e13")  # exclusive; the database keeps amounts as Numeric(18, 4)
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ: needed to spell Persian, Hindi, emoji
_LINE_BREAKS = "\t\n\r"


class BadValue(ValueError):
    """One field cannot be accepted; the message names the field and says why."""


@cache
def _forbidden() -> re.Pattern[str]:
    """One character class of every forbidden code point, built once (~50 ms).

    Planes 2–13 and 15–16 hold only ideographs, private use and unassigned code points
    (no Cc/Cf/Cs/Zl/Zp), so only planes 0, 1 and 14 are scanned.
    """
    ranges: list[tuple[int, int]] = []
    for point in (*range(0x20000), *range(0xE0000, 0xF0000)):
        char = chr(point)
        bad = unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") or point in (0xFFFE, 0xFFFF)
        if bad and char not in _ALLOWED_FORMAT and char not in _LINE_BREAKS:
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    body = "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)
    return re.compile(f"[{body}]")


_SINGLE_LINE_BREAK = re.compile(f"[{_LINE_BREAKS}]")


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} ({name})" if name else f"U+{ord(char):04X}"


def check_text(value: str, name: str, *, multiline: bool = False) -> str:
    """`value` unchanged, or BadValue naming the field and the first forbidden character."""
    found = _forbidden().search(value)
    if found is not None:
        raise BadValue(
            f"{name} contains the invisible character {_describe(found.group())} at position {found.start() + 1}; "
            "remove it (control and text-direction characters cannot be sent)"
        )
    if not multiline:
        found = _SINGLE_LINE_BREAK.search(value)
        if found is not None:
            raise BadValue(f"{name} contains a line break or tab at position {found.start() + 1}; write it on one line")
    return value


def check_date(day: date, name: str) -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise BadValue(f"{name} {day.isoformat()} is outside {EARLIEST_DATE.isoformat()} … {LATEST_DATE.isoformat()}")
    return day


def check_amount(amount: Decimal, name: str, *, currency: str | None = None, shown: str | None = None) -> Decimal:
    """A finite amount below `MAX_AMOUNT`; with `currency`, no finer than its minor unit."""
    shown = shown if shown is not None else str(amount)
    if not amount.is_finite():
        raise BadValue(f"{name} {shown!r} is not a number")
    if abs(amount) >= MAX_AMOUNT:
        raise BadValue(f"{name} {shown} is too large (amounts must be below {MAX_AMOUNT:,.0f})")
    if currency is not None:
        exponent = amount.as_tuple().exponent
        places = minor_units(currency)
        if isinstance(exponent, int) and -exponent > places and amount != amount.quantize(Decimal(1).scaleb(-places)):
            raise BadValue(f"{name} {shown} has more decimals than {currency} has ({places})")
    return amount


def check_language(value: str, name: str, *, variants: bool = True) -> str:
    """`fr`, `FR`, `fr-BE`, `fr_BE` → `fr`; a language we ship no wording for is refused.

    `variants=False` takes only the codes themselves (the review modal offers nothing else).
    """
    base = base_language(value) if variants else value
    if base not in SUPPORTED_LANGUAGES:
        raise BadValue(f"{name} {value!r} is not one of the supported languages: {', '.join(SUPPORTED_LANGUAGES)}")
    return base


def check_attachments(value: str, name: str = "attachments") -> Attachments:
    try:
        return Attachments(value.strip().lower())
    except ValueError:
        choices = ", ".join(choice.value for choice in Attachments)
        raise BadValue(f"{name} {value!r} is not one of: {choices}") from None


def check_vat_number(value: str, name: str, *, country: str | None) -> str:
    """A VAT number in its compact form, checked by python-stdnum's rule for `country` (its
    checksum, length, prefix). A country stdnum knows no VAT rule for takes any one-line text,
    so a seller outside those countries is never locked out. Empty stays empty."""
    text = check_text(value.strip(), name)
    if not text or not country:
        return text
    try:
        module = get_cc_module(country.lower(), "vat")
    except ImportError:  # stdnum raises it for an unknown country code
        module = None
    if module is None:
        return text
    try:
        compact: str = module.validate(text)
    except StdnumValidationError as exc:
        raise BadValue(f"{name} {text!r} is not a valid {country.upper()} VAT number ({exc})") from None
    return compact if compact[:2].isalpha() else country.upper() + compact  # stored with its country prefix


def check_iban(value: str | None, name: str = "the IBAN") -> str | None:
    """The IBAN compact and upper-case (`BE71096123456769`), or None when empty; BadValue naming
    what python-stdnum found wrong (the country's length and format, the check digits)."""
    text = check_text((value or "").strip(), name)
    if not text:
        return None
    try:
        return str(stdnum_iban.validate(text))
    except StdnumValidationError as exc:
        raise BadValue(f"{name} {text!r} is not a valid IBAN ({exc})") from None


def check_bic(value: str | None, name: str = "the BIC") -> str | None:
    """The BIC (SWIFT code, 8 or 11 characters) compact and upper-case, or None when empty."""
    text = check_text((value or "").strip(), name)
    if not text:
        return None
    try:
        return str(stdnum_bic.validate(text))
    except StdnumValidationError as exc:
        raise BadValue(f"{name} {text!r} is not a valid BIC ({exc})") from None


def iban_shown(iban: str | None) -> str:
    """The IBAN as people read and type it: in blocks of four (`BE71 0961 2345 6769`); empty for None."""
    return str(stdnum_iban.format(iban)) if iban else ""
