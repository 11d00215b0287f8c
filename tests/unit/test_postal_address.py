"""Reading old one-text addresses into parts, and printing parts in the destination country's order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.postal_address import PostalAddress, address_lines, country_of, parse_postal_address

READINGS = {
    "14 Fleet Street\nLondon EC4Y 1AA\nUnited Kingdom": PostalAddress(
        street="14 Fleet Street", city="London", postal_code="EC4Y 1AA", country="GB"
    ),
    "27 rue de la République\nBâtiment B\n69002 Lyon\nFrance": PostalAddress(
        street="27 rue de la République", additional="Bâtiment B", city="Lyon", postal_code="69002", country="FR"
    ),
    "Industriestraße 8\nD-70565 Stuttgart\nDeutschland": PostalAddress(
        street="Industriestraße 8", city="Stuttgart", postal_code="70565", country="DE"
    ),
    "Havenstraat 112\n3011 AK Rotterdam\nNL": PostalAddress(
        street="Havenstraat 112", city="Rotterdam", postal_code="3011 AK", country="NL"
    ),
    "Calle de Alcalá 155\n28009 Madrid\nEspaña": PostalAddress(
        street="Calle de Alcalá 155", city="Madrid", postal_code="28009", country="ES"
    ),
    "Οδός Ερμού 12\n105 63 Αθήνα": PostalAddress(street="Οδός Ερμού 12", city="Αθήνα", postal_code="105 63"),
    "Acme Plaza\n155 Main Street\nSpringfield, IL 62704\nUSA": PostalAddress(
        street="Acme Plaza",
        additional="155 Main Street",
        city="Springfield",
        postal_code="62704",
        subdivision="IL",
        country="US",
    ),
    "1 Main St\nSpringfield": PostalAddress(street="1 Main St", city="Springfield"),
    "155 Main Street": PostalAddress(street="155 Main Street"),  # a lone first line is never a postal code
    "": PostalAddress(),
}


@pytest.mark.parametrize("text", list(READINGS))
def test_an_old_address_is_read_into_its_parts(text: str) -> None:
    assert parse_postal_address(text) == READINGS[text]


def test_a_country_given_apart_wins_over_the_last_line_which_is_dropped() -> None:
    parsed = parse_postal_address("5 place Bellecour\n69002 Lyon\nFrance", country="BE")

    assert (parsed.city, parsed.country) == ("Lyon", "BE")


def test_country_names_are_known_in_the_document_languages_and_codes_are_iso_only() -> None:
    assert [country_of(name) for name in ("Schweiz", "Italia", "Pays-Bas", "uk", "gr")] == [
        "CH",
        "IT",
        "NL",
        "GB",
        "GR",
    ]
    assert [country_of(name) for name in ("EU", "ZZ", "XK", "Springfield")] == [None, None, None, None]


PRINTED = {
    "GB": ("1 Example Street", "London EC1A 1BB", "MI"),
    "FR": ("1 Example Street", "EC1A 1BB London", "MI"),
    "IT": ("1 Example Street", "EC1A 1BB London MI"),
    "US": ("1 Example Street", "London, MI EC1A 1BB"),
    "DE": ("1 Example Street", "EC1A 1BB London", "MI"),
}


@pytest.mark.parametrize("country", list(PRINTED))
def test_the_city_line_follows_the_destination_countrys_order(country: str) -> None:
    address = PostalAddress(street="1 Example Street", city="London", postal_code="EC1A 1BB", subdivision="MI")

    assert address_lines(replace(address, country=country)) == PRINTED[country]


def test_without_a_country_the_readers_country_decides_the_order() -> None:
    address = PostalAddress(street="9 Mill Lane", city="Leeds", postal_code="LS1 4AP")

    assert address_lines(address, default_country="GB") == ("9 Mill Lane", "Leeds LS1 4AP")
    assert address_lines(address) == ("9 Mill Lane", "LS1 4AP Leeds")
