"""Email address rules, in one place: validation, normal form, and the form that goes on the wire.

Everything is email-validator (no hand-written rules). Two forms of an address matter:

- the *normal* form (`normalise_email`): what is stored and shown — a domain such as
  `bücher.example` stays readable;
- the *envelope* form (`envelope_address`): what MAIL FROM / RCPT TO carry — the domain in
  IDNA A-labels (`xn--bcher-kva.example`, IDNA 2008 as email-validator applies it; Python's
  own `idna` codec is IDNA 2003 and would turn `straße` into `strasse`).

A non-ASCII local part (`zoë@example.com`) has no ASCII form at all: it can only travel with
SMTPUTF8 (RFC 6531). Whether the organisation's mail server offers it is recorded when its
SMTP settings are verified (services.email.verification); until it is known to, such an
address is refused where it is typed, with `no_smtputf8_reason` as the sentence, so what
a form accepts is exactly what the worker can send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from services.errors import InvalidInput


class AddressNotSendable(InvalidInput):
    """A well-formed address the organisation's mail server cannot carry (no SMTPUTF8)."""


@dataclass(frozen=True, slots=True)
class EnvelopeAddress:
    """An address as MAIL FROM / RCPT TO carry it; `needs_smtputf8` when its local part is not ASCII."""

    wire: str
    needs_smtputf8: bool


def no_smtputf8_reason(address: str) -> str:
    """The sentence for an address whose local part only an SMTPUTF8 server accepts."""
    local, _, _ = address.strip().rpartition("@")
    return f"{local}@… has a non-ASCII name before the @; your mail server does not accept such addresses (no SMTPUTF8)"


def normalise_email(address: str, *, smtputf8: bool = False) -> str:
    """Return the address in its normal form, or raise InvalidInput saying why.

    `smtputf8`: whether the organisation's mail server is known to accept non-ASCII local
    parts; when False such an address raises AddressNotSendable.
    """
    candidate = (address or "").strip()
    if not candidate:
        raise InvalidInput("an email address is empty")
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{candidate!r} is not a valid email address: {exc}") from None
    if checked.ascii_email is None and not smtputf8:
        raise AddressNotSendable(no_smtputf8_reason(checked.normalized))
    return checked.normalized


def normalise_emails(addresses: Iterable[str], *, smtputf8: bool = False) -> list[str]:
    """Validate each address; drop duplicates (case-insensitively), keep the order."""
    seen: set[str] = set()
    result: list[str] = []
    for address in addresses:
        normal = normalise_email(address, smtputf8=smtputf8)
        if normal.lower() not in seen:
            seen.add(normal.lower())
            result.append(normal)
    return result


@lru_cache(maxsize=4096)  # IDNA conversion costs ~0.4 ms; the same customers' addresses recur
def envelope_address(address: str) -> EnvelopeAddress:
    """The address as the SMTP envelope carries it: domain in A-labels; raises InvalidInput when malformed.

    An ASCII address goes as it is: judging it is the server's job (`bounces+…@localhost` is
    fine on a local relay), and only a non-ASCII one needs converting.
    """
    candidate = (address or "").strip()
    if candidate.isascii():
        return EnvelopeAddress(candidate, needs_smtputf8=False)
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=True, globally_deliverable=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{candidate!r} is not a valid email address: {exc}") from None
    if checked.ascii_email is not None:
        return EnvelopeAddress(checked.ascii_email, needs_smtputf8=False)
    return EnvelopeAddress(f"{checked.local_part}@{checked.ascii_domain}", needs_smtputf8=True)


def split_addresses(text: str) -> tuple[str, ...]:
    """`a@x.example, b@y.example; c@z.example` → each non-empty part, in order.

    Commas, semicolons and any whitespace (spaces, tabs, line breaks) separate addresses:
    an address we accept holds no whitespace (email-validator refuses quoted local parts
    and display names), so a list pasted with spaces reads as the person meant it. The
    review modal, the *Fix address & resend* modal and the import all split this way.
    """
    return tuple(part for part in re.split(r"[,;\s]+", text) if part)


def suppression_key(address: str) -> str:
    return address.strip().lower()
