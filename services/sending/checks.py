"""Checking a send request before anything is written, and the identifiers a delivery gets.

Bad input comes back as `FieldErrors` keyed by the review modal's field names ("to",
"cc", "bcc", "subject", "message", "language", "attachments", "preview_first",
"override_suppression", "extra_files"), each a sentence the person can act on, so the modal shows them
inline and nothing is lost. What a field may hold (no control or bidi characters, a
supported language, a known attachments choice) is `services.field_rules`, shared with
the import.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Attachments, Invoice, InvoiceStatus
from services.email.addresses import AddressNotSendable, normalise_email
from services.email.verification import accepts_smtputf8
from services.errors import FieldErrors, IllegalTransition, InvalidInput
from services.field_rules import BadValue, check_attachments, check_language, check_text
from services.sending.extra_files import ExtraFile
from services.sending.readiness import SendingState
from services.sending.review import suppressed_among

MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARS = 250
MAX_MESSAGE_CHARS = 20_000


@dataclass(frozen=True)
class DeliveryRequest:
    """What a person submitted in the review modal (addresses as typed; they are checked here)."""

    invoice_number: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    message: str = ""  # the text body
    language: str = "en"
    attachments: Attachments | str = Attachments.PDF  # as chosen; an unknown choice is refused, never read as PDF
    preview_first: bool = False
    override_suppression: bool = False
    show_notes: bool = True  # "Show notes on the invoice page": the PDF and link page show the visible notes
    requested_by: str = ""
    requester_email: str | None = None  # where a preview goes
    idempotency_key: str | None = None  # e.g. the Slack view id: a retried submission creates nothing new
    confirm_resend: bool = False
    extra_files: tuple[ExtraFile, ...] = ()  # uploaded in the modal; checked and stored with the delivery
    extra_files_of: int | None = None  # a resend: attach the extra files this earlier delivery carried


def new_message_id(invoice_number: str, domain: str) -> str:
    """`<inv-INV-1-3f9c…@domain>`: fixed at creation, so a duplicate is recognisable downstream."""
    safe_number = re.sub(r"[^A-Za-z0-9._-]+", "-", invoice_number).strip("-.") or "invoice"
    return f"<inv-{safe_number}-{secrets.token_hex(12)}@{domain}>"


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def new_verp_token(secret: bytes) -> str:
    """128 random bits plus an 80-bit HMAC, lower-case base32 (mail systems may lower-case local parts).

    The bounce side can check `verp_token_is_genuine` before touching the database.
    """
    nonce = _b32(secrets.token_bytes(16))
    return f"{nonce}-{_b32(hmac.new(secret, nonce.encode(), hashlib.sha256).digest()[:10])}"


def verp_token_is_genuine(token: str, secret: bytes) -> bool:
    nonce, _, signature = token.lower().partition("-")
    expected = _b32(hmac.new(secret, nonce.encode(), hashlib.sha256).digest()[:10])
    return bool(nonce) and hmac.compare_digest(signature, expected)


def stored_key(key: str | None) -> str | None:
    """Keys longer than the column are stored as their SHA-256, so any client key fits."""
    if key is None or not key.strip():
        return None
    key = key.strip()
    return key if len(key) <= 100 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _check_addresses(typed: tuple[str, ...], field_name: str, errors: dict[str, str], *, smtputf8: bool) -> list[str]:
    addresses: list[str] = []
    for candidate in typed:
        if not candidate.strip():
            continue
        try:
            addresses.append(normalise_email(candidate, smtputf8=smtputf8))
        except AddressNotSendable as exc:
            errors.setdefault(field_name, str(exc))
        except InvalidInput:
            errors.setdefault(field_name, f"'{candidate.strip()}' is not a valid email address")
    return addresses


def _without(addresses: list[str], taken: set[str]) -> list[str]:
    kept = []
    for address in addresses:
        if address.lower() not in taken:
            taken.add(address.lower())
            kept.append(address)
    return kept


@dataclass
class CheckedRequest:
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    message: str
    preview_to: str | None = None
    suppressed: list[str] = field(default_factory=list)


def _apply_field_rules(request: DeliveryRequest, *, subject: str, message: str, errors: dict[str, str]) -> None:
    """The rules every field obeys wherever it is typed (`services.field_rules`), as modal errors."""
    rules: dict[str, Callable[[], object]] = {
        "subject": lambda: check_text(subject, "The subject"),
        "message": lambda: check_text(message, "The message", multiline=True),
        "language": lambda: check_language(request.language, "The language", variants=False),
        "attachments": lambda: check_attachments(str(request.attachments), "The attachments choice"),
    }
    for field_name, rule in rules.items():
        if field_name in errors:
            continue
        try:
            rule()
        except BadValue as exc:
            errors[field_name] = str(exc)


def _check_typed(request: DeliveryRequest, *, smtputf8: bool, errors: dict[str, str]) -> CheckedRequest:
    """The rules the typed fields obey by themselves (no database): addresses, subject, message."""
    taken: set[str] = set()
    to = _without(_check_addresses(request.to, "to", errors, smtputf8=smtputf8), taken)
    cc = _without(_check_addresses(request.cc, "cc", errors, smtputf8=smtputf8), taken)
    bcc = _without(_check_addresses(request.bcc, "bcc", errors, smtputf8=smtputf8), taken)
    if not to and "to" not in errors:
        errors["to"] = "Give at least one recipient"
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        errors.setdefault("to", f"At most {MAX_RECIPIENTS} recipients in all")
    subject = " ".join(request.subject.split())
    if not subject:
        errors["subject"] = "Give the email a subject"
    elif len(subject) > MAX_SUBJECT_CHARS:
        errors["subject"] = f"Keep the subject under {MAX_SUBJECT_CHARS} characters (it has {len(subject)})"
    message = request.message.replace("\r\n", "\n").strip()
    if not message:
        errors["message"] = "Write a message for the email body"
    elif len(message) > MAX_MESSAGE_CHARS:
        errors["message"] = f"Keep the message under {MAX_MESSAGE_CHARS:,} characters"
    _apply_field_rules(request, subject=subject, message=message, errors=errors)
    return CheckedRequest(to=to, cc=cc, bcc=bcc, subject=subject, message=message + "\n")


def check_typed_addresses(**fields: tuple[str, ...]) -> None:
    """Raise FieldErrors (keyed by the field names given) for addresses that are not addresses at all.

    No database: judged as if the relay took SMTPUTF8, like `check_typed_request`.
    """
    errors: dict[str, str] = {}
    for field_name, typed in fields.items():
        _check_addresses(typed, field_name, errors, smtputf8=True)
    if errors:
        raise FieldErrors(errors)


def check_typed_request(request: DeliveryRequest) -> None:
    """Raise FieldErrors for what the typed fields get wrong by themselves, before any database work.

    A Slack submission runs this before its ack, so a typo comes back inline at once. An
    address is judged as if the relay took SMTPUTF8 (lenient): `check_request` still
    applies the organisation's real answer, the suppression list and the preview address.
    """
    errors: dict[str, str] = {}
    _check_typed(request, smtputf8=True, errors=errors)
    if errors:
        raise FieldErrors(errors)


async def check_request(session: AsyncSession, *, organisation_id: int, request: DeliveryRequest) -> CheckedRequest:
    errors: dict[str, str] = {}
    smtputf8 = await accepts_smtputf8(session, organisation_id=organisation_id)
    checked = _check_typed(request, smtputf8=smtputf8, errors=errors)
    to, cc, bcc = checked.to, checked.cc, checked.bcc
    if request.preview_first:
        try:
            checked.preview_to = normalise_email(request.requester_email or "", smtputf8=smtputf8)
        except InvalidInput:
            errors["preview_first"] = "There is no email address of yours to send the preview to"
    suppressed = await suppressed_among(session, organisation_id=organisation_id, emails=[*to, *cc, *bcc])
    if suppressed and not request.override_suppression:
        errors["override_suppression"] = "; ".join(
            f"{entry.message}: tick 'send anyway' to override" for entry in suppressed
        )
    checked.suppressed = [entry.email for entry in suppressed]
    if errors:
        raise FieldErrors(errors)
    return checked


def check_invoice(invoice: Invoice) -> None:
    status = InvoiceStatus(invoice.status)
    if status == InvoiceStatus.DRAFT:
        raise IllegalTransition(f"Invoice {invoice.number} is still a draft: validate it before sending it.")
    if status in (InvoiceStatus.VOID, InvoiceStatus.PAID):
        raise IllegalTransition(f"Invoice {invoice.number} is {status.value}, so it is not sent.")


def check_sending(sending: SendingState) -> None:
    problems = sending.problems()
    if problems:
        raise IllegalTransition(f"Invoices can't be sent yet: {problems[0].message}. Ask an admin to fix it.")
