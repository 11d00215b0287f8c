"""A customer's postal address in an import file, the same in CSV and JSON.

The parts (street, additional, city, postal code, subdivision, country) are checked like
any text field (`services.field_rules`, via `importing_records.text`); the old one-text
`address` field is read into parts by `services.postal_address.parse_postal_address`, the
reading the database migration and the `INVOICEBOT_ORG_ADDRESS` setting also get.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.field_rules import BadValue
from services.importing.records import RowReader, text
from services.postal_address import ADDRESS_PART_LIMITS, PostalAddress, country_codes, parse_postal_address


def country(value: object, name: str = "customer_country") -> str | None:
    raw = text(value, name, max_length=2, required=False).upper()
    if raw and raw not in country_codes():
        raise BadValue(f"{name} {raw!r} is not a two-letter ISO 3166 country code (e.g. GB, FR)")
    return raw or None


def postal_address(
    reader: RowReader, values: Mapping[str, object], *, key: Callable[[str], str], name: Callable[[str], str]
) -> PostalAddress | None:
    """The customer's address from its parts, or from the old one-text `address` field read into parts.

    `key` gives where a field (`address`, `street`, …, `country`) sits in `values`, `name` how
    problems call it. Giving both the old field and parts is refused: which was meant cannot be told.
    """
    problems = reader.sink.count
    land = reader.read(country, values.get(key("country")), name("country"))
    given = {
        part: reader.read(text, values.get(key(part)), name(part), max_length=limit, required=False) or ""
        for part, limit in ADDRESS_PART_LIMITS.items()
    }
    old = name("address")
    whole = reader.read(text, values.get(key("address")), old, max_length=2000, required=False, multiline=True)
    if reader.sink.count > problems:
        return None
    if not whole:
        return PostalAddress(**given, country=land)
    if any(given.values()):
        both = ", ".join(name(part) for part, value in given.items() if value)
        reader.report(f"{old} and {both} are both given; write the address in the separate fields only")
        return None
    parsed = parse_postal_address(whole.replace("\\n", "\n"), country=land)
    for part, limit in ADDRESS_PART_LIMITS.items():
        if len(getattr(parsed, part)) > limit:
            reader.report(f"{old}: the {part.replace('_', ' ')} read from it is longer than {limit} characters")
            return None
    return parsed
