"""The languages invoicebot ships wording for: one list, one way to read a language code.

Email templates, the PDF and UBL documents, the review modal's language menu, the import's
field check and the `INVOICEBOT_DEFAULT_LANGUAGE` setting all speak of the same languages,
so they read them here. A code may carry a region (`fr-BE`, `fr_BE`, `FR`): the wording is
chosen by its base language.
"""

from __future__ import annotations

import re

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "nl", "es", "it")
DEFAULT_LANGUAGE = "en"


def base_language(code: str | None) -> str:
    """`fr-BE`, `fr_BE`, ` FR ` → `fr` (whether or not we speak it)."""
    return re.split(r"[-_]", (code or "").strip().lower(), maxsplit=1)[0]


def normalise_language(language: str | None) -> str:
    """The base language when we ship wording for it, else English (for reading stored values)."""
    code = base_language(language)
    return code if code in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE
