"""One list of languages and one reading of a language code, for emails, documents, import and settings."""

from __future__ import annotations

import pytest

from services.field_rules import BadValue, check_language
from services.languages import SUPPORTED_LANGUAGES, normalise_language


@pytest.mark.parametrize(
    ("stored", "spoken"),
    [("fr-BE", "fr"), (" FR_be ", "fr"), ("de", "de"), ("pt-BR", "en"), ("", "en"), (None, "en")],
)
def test_a_stored_language_reads_as_its_base_language_or_english(stored: str | None, spoken: str) -> None:
    assert normalise_language(stored) == spoken


def test_the_field_check_takes_what_the_reader_speaks_and_refuses_the_rest() -> None:
    for code in SUPPORTED_LANGUAGES:
        assert check_language(f"{code.upper()}-XX", "language") == normalise_language(f"{code}-XX") == code
    with pytest.raises(BadValue, match="'pt-BR' is not one of the supported languages: en, fr, de, nl, es, it"):
        check_language("pt-BR", "language")
