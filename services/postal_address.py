"""Postal addresses as parts — street, additional line, city, postal code, subdivision, country.

An e-invoice names each part (UBL `cac:PostalAddress`), and a printed address orders them
as the destination country's post office wants ("69002 Lyon", "London EC4Y 1AA"), so the
parts are stored apart. Addresses used to be one free-text field; `parse_postal_address`
is the one reading of such a text, shared by the database migration (0013_postal), the
import formats' old `address` field and the `INVOICEBOT_ORG_ADDRESS` setting, so the same
text gives the same parts wherever it comes from.

Country codes are ISO 3166-1 alpha-2, checked against babel's CLDR territory list (already
a dependency, maintained with each CLDR release, and it carries the country names in every
language, which reading "Deutschland" or "España" off an old address needs; python-stdnum
has no country list). CLDR also lists regions and reserved codes (EU, UN, XK, ZZ, …): they
are left out. Babel has no postal address formats, so `ADDRESS_ORDER` below is a small
table for the countries of the six document languages and their neighbours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Protocol

from babel import Locale

# Longest value each part may hold (the database columns are these sizes).
MAX_STREET = 200
MAX_CITY = 100
MAX_POSTAL_CODE = 20
MAX_SUBDIVISION = 100

# CLDR territories that are not ISO 3166-1 countries (regions, reserved and user-assigned codes).
_NOT_COUNTRIES = frozenset({"AA", "AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "TA", "UN", "ZZ"})
# Names people write for a country that CLDR does not list under that code.
_COUNTRY_ALIASES = {
    "UK": "GB",
    "U.K.": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "NORTHERN IRELAND": "GB",
    "GREAT BRITAIN": "GB",
    "USA": "US",
    "U.S.A.": "US",
    "U.S.": "US",
    "UNITED STATES OF AMERICA": "US",
    "HOLLAND": "NL",
    "THE NETHERLANDS": "NL",
}
# Languages whose country names an old address may end with: the six document languages and
# the languages of the countries around them.
_NAME_LANGUAGES = ("en", "fr", "de", "nl", "es", "it", "pt", "el", "pl", "sv", "da", "ru")


@dataclass(frozen=True)
class PostalAddress:
    """An address in parts; empty text means "not given". `country` is ISO 3166-1 alpha-2."""

    street: str = ""
    additional: str = ""
    city: str = ""
    postal_code: str = ""
    subdivision: str = ""
    country: str | None = None

    def is_empty(self) -> bool:
        return not (self.street or self.additional or self.city or self.postal_code or self.subdivision)


class HasPostalAddress(Protocol):
    """A row with the address columns (customers, organisations); read-only, so a row whose
    country is required (organisations) is one too."""

    @property
    def street(self) -> str: ...
    @property
    def additional(self) -> str: ...
    @property
    def city(self) -> str: ...
    @property
    def postal_code(self) -> str: ...
    @property
    def subdivision(self) -> str: ...
    @property
    def country(self) -> str | None: ...


def postal_address_of(row: HasPostalAddress) -> PostalAddress:
    return PostalAddress(
        street=row.street or "",
        additional=row.additional or "",
        city=row.city or "",
        postal_code=row.postal_code or "",
        subdivision=row.subdivision or "",
        country=row.country or None,
    )


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code CLDR knows."""
    return frozenset(
        code
        for code in Locale("en").territories
        if isinstance(code, str)  # babel types the keys loosely; they are all strings
        and len(code) == 2
        and code.isalpha()
        and code not in _NOT_COUNTRIES
        and code[0] != "X"
        and not "QM" <= code <= "QZ"
    )


@cache
def _country_names() -> dict[str, str]:
    """Casefolded country name (in several languages) or code → code."""
    names: dict[str, str] = {}
    codes = country_codes()
    for language in _NAME_LANGUAGES:
        for code, name in Locale(language).territories.items():
            if code in codes:
                names.setdefault(name.casefold(), code)
    names.update({alias.casefold(): code for alias, code in _COUNTRY_ALIASES.items()})
    names.update({code.casefold(): code for code in codes})
    return names


def country_of(text: str) -> str | None:
    """`"United Kingdom"`, `"Deutschland"`, `"FR"` → the country's code; None when it names no country."""
    return _country_names().get(text.strip().rstrip(".").strip().casefold()) if text.strip() else None


# A line holding a postal code and a city, as written in the countries whose mail we send.
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"
_POSTCODE_FIRST = re.compile(
    r"^(?:[A-Z]{1,2}-)?(?P<code>\d{4}\s?[A-Z]{2}(?=\s)|\d{4}-\d{3}|\d{3}\s\d{2}|\d{2}-\d{3}|\d{4,6})\s+(?P<city>\S.*)$"
)
_POSTCODE_LAST = re.compile(
    rf"^(?P<city>.*?\S),?\s+(?:(?P<region>[A-Z]{{2}})\s+)?(?P<code>{_UK_POSTCODE}|[A-Z]\d[A-Z]\s?\d[A-Z]\d|\d{{5}}(?:-\d{{4}})?)$"
)


def _postal_line(line: str) -> tuple[str, str, str] | None:
    """(postal code, city, subdivision) when `line` holds a postal code and a city."""
    found = _POSTCODE_FIRST.match(line)
    if found:
        return found["code"].upper(), found["city"].strip(), ""
    found = _POSTCODE_LAST.match(line)
    if found:
        return found["code"], found["city"].strip().rstrip(","), found["region"] or ""
    return None


def parse_postal_address(text: str | None, *, country: str | None = None) -> PostalAddress:
    """The parts of a free-text address, as well as they can be told apart.

    - a last line naming a country ("United Kingdom", "Deutschland", "FR") is the country
      (a `country` given apart wins over it, the line is dropped either way);
    - the lowest other line holding a postal code ("69002 Lyon", "London EC4Y 1AA",
      "Springfield, IL 62704") gives the postal code, the city and maybe the subdivision;
      a line below it is the subdivision;
    - without one, the last of two or more lines is the city;
    - the first line left is the street, the others the additional line (joined with ", ").
    The first line is never read as a postal code: "155 Main Street" is a street.
    """
    lines = [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]
    named = country_of(lines[-1]) if len(lines) > 1 else None
    if named:
        lines.pop()
    postal_code = city = subdivision = ""
    for index in range(len(lines) - 1, 0, -1):
        found = _postal_line(lines[index])
        if found:
            postal_code, city, subdivision = found
            below = lines[index + 1 :]
            subdivision = ", ".join([subdivision, *below]) if subdivision else ", ".join(below)
            lines = lines[:index]
            break
    else:
        if len(lines) >= 2:
            city = lines.pop()
    return PostalAddress(
        street=lines[0] if lines else "",
        additional=", ".join(lines[1:]),
        city=city,
        postal_code=postal_code,
        subdivision=subdivision,
        country=(country or named or None),
    )


class AddressOrder(Enum):
    """Where the postal code and the subdivision go on the city line."""

    CODE_CITY = "{postal_code} {city}"  # most of Europe: 69002 Lyon
    CODE_CITY_SUBDIVISION = "{postal_code} {city} {subdivision}"  # Italy: 20123 Milano MI
    CITY_CODE = "{city} {postal_code}"  # United Kingdom, Ireland: London EC4Y 1AA
    CITY_SUBDIVISION_CODE = "{city}, {subdivision} {postal_code}"  # United States, Canada


ADDRESS_ORDER: dict[str, AddressOrder] = {
    "GB": AddressOrder.CITY_CODE,
    "IE": AddressOrder.CITY_CODE,
    "US": AddressOrder.CITY_SUBDIVISION_CODE,
    "CA": AddressOrder.CITY_SUBDIVISION_CODE,
    "AU": AddressOrder.CITY_SUBDIVISION_CODE,
    "IT": AddressOrder.CODE_CITY_SUBDIVISION,
    # FR, DE, NL, ES, BE, CH, AT, LU, PT, … write the code first: the default.
}


def address_lines(address: PostalAddress, *, default_country: str | None = None) -> tuple[str, ...]:
    """The address as printed, without the country line: the order of the address's country.

    The destination's post office reads the address, so its country decides the order
    ("69002 Lyon" for France even on an English document); without a country,
    `default_country` (the reader's) decides, else the postal code goes first.
    """
    order = ADDRESS_ORDER.get((address.country or default_country or "").upper(), AddressOrder.CODE_CITY)
    used_subdivision = order in (AddressOrder.CODE_CITY_SUBDIVISION, AddressOrder.CITY_SUBDIVISION_CODE)
    city_line = order.value.format(
        postal_code=address.postal_code, city=address.city, subdivision=address.subdivision if used_subdivision else ""
    )
    city_line = re.sub(r"\s+", " ", city_line).strip(" ,")
    if order is AddressOrder.CITY_SUBDIVISION_CODE and not address.subdivision:
        city_line = city_line.replace(", ", " ", 1) if city_line.count(",") else city_line
    lines = [address.street, address.additional, city_line]
    if address.subdivision and not used_subdivision:
        lines.append(address.subdivision)
    return tuple(line for line in lines if line)


# Each part and the longest text it holds (the database columns' sizes).
ADDRESS_PART_LIMITS = {
    "street": MAX_STREET,
    "additional": MAX_STREET,
    "city": MAX_CITY,
    "postal_code": MAX_POSTAL_CODE,
    "subdivision": MAX_SUBDIVISION,
}
ADDRESS_PARTS = tuple(ADDRESS_PART_LIMITS)


def address_columns(address: PostalAddress) -> dict[str, str]:
    """The parts as the database columns of the same names (the country has its own column)."""
    return {part: getattr(address, part) for part in ADDRESS_PARTS}


def address_text(address: PostalAddress) -> str:
    """The address as one text (lines, country code last): what the old single field held."""
    return "\n".join([*address_lines(address), *([address.country] if address.country else [])])
