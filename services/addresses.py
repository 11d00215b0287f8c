"""Email address validation and normalisation (email-validator, no hand-written regex)."""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

from services.errors import InvalidInput


def normalise_email(address: str) -> str:
    """Return the address in its normal form, or raise InvalidInput saying why."""
    candidate = (address or "").strip()
    if not candidate:
        raise InvalidInput("an email address is empty")
    try:
        return validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"{candidate!r} is not a valid email address: {exc}") from None


def normalise_emails(addresses: Iterable[str]) -> list[str]:
    """Validate each address; drop duplicates (case-insensitively), keep the order."""
    seen: set[str] = set()
    result: list[str] = []
    for address in addresses:
        normal = normalise_email(address)
        if normal.lower() not in seen:
            seen.add(normal.lower())
            result.append(normal)
    return result


def split_addresses(text: str) -> list[str]:
    """`a@x.example; b@y.example` or with commas/newlines → a list of the non-empty parts."""
    for separator in (";", "\n"):
        text = text.replace(separator, ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def suppression_key(address: str) -> str:
    return address.strip().lower()
