"""The invoice email as a MIME message, its Message-ID, and the signed VERP return path.

The message is built with the standard library (`email.message.EmailMessage`, policy
SMTP: CRLF line ends, RFC-correct folding). Values that become headers are checked here
so a line break in a subject or a name can never add a header (header injection): they
are refused with a sentence the person can act on.

Bcc addresses never appear in the message: they belong to the SMTP envelope only
(`envelope_recipients`).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from services.db.models import utcnow
from services.errors import InvalidInput

# Most providers refuse messages over 20–25 MB *after* base64 encoding (which adds a
# third); 20 MiB of encoded message is the limit that gets through nearly everywhere.
MAX_MESSAGE_BYTES = 20 * 1024 * 1024

CORRELATION_HEADER = "X-Invoicebot-Delivery"
# The same token again, in the headers each email provider turns into webhook metadata:
# Postmark's `Metadata`, SendGrid's per-event custom arguments, Mailgun's
# `user-variables`. (Amazon SES echoes the original headers, ours included.)
PROVIDER_METADATA_KEY = "invoicebot_delivery"
POSTMARK_METADATA_HEADER = "X-PM-Metadata-invoicebot-delivery"
VERP_PREFIX = "bounces"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MESSAGE_ID = re.compile(r"^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>$")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to the email, e.g. `Attachment("INV-1.pdf", pdf_bytes, "application/pdf")`."""

    filename: str
    content: bytes
    mime_type: str


def _one_line(value: str, what: str) -> str:
    """Refuse line breaks and control characters in a value that becomes a header."""
    if _CONTROL.search(value):
        raise InvalidInput(f"The {what} cannot contain line breaks or control characters.")
    return value


def _address(addr_spec: str, display_name: str | None, what: str) -> Address:
    _one_line(addr_spec, f"{what} address")
    _one_line(display_name or "", f"{what} name")
    try:
        return Address(display_name=display_name or "", addr_spec=addr_spec.strip())
    except (ValueError, IndexError) as exc:
        raise InvalidInput(f"{addr_spec!r} is not a valid {what} address.") from exc


def envelope_recipients(to: Iterable[str], cc: Iterable[str], bcc: Iterable[str]) -> list[str]:
    """Everyone the SMTP server must deliver to (To, Cc and Bcc), each once, in order."""
    seen: set[str] = set()
    result: list[str] = []
    for address in [*to, *cc, *bcc]:
        key = address.strip().lower()
        if key and key not in seen:
            seen.add(key)
            result.append(address.strip())
    return result


def _encoded_size_estimate(text: str, html: str, attachments: Sequence[Attachment]) -> int:
    """An upper estimate of the encoded size (base64 is 4/3 plus line breaks; bodies may be
    quoted-printable, at most ~3×) — cheap, so the exact size is computed only near the limit."""
    bodies = 3 * (len(text.encode()) + len(html.encode()))
    files = sum(len(a.content) * 4 // 3 + len(a.content) // 38 + 1024 for a in attachments)
    return bodies + files + 8192


def compose_message(
    *,
    from_addr: str,
    from_name: str | None,
    reply_to: str | None,
    to: Sequence[str],
    cc: Sequence[str],
    bcc: Sequence[str],
    subject: str,
    text: str,
    html: str,
    attachments: Sequence[Attachment],
    message_id: str,
    correlation_id: str,
) -> EmailMessage:
    """A multipart/alternative (text + HTML) message with its attachments, ready for SMTP.

    `bcc` is only checked here: it is not written into the message; pass it to the
    envelope (`envelope_recipients`). Raises InvalidInput for a header value with a line
    break, a malformed address, or a message larger than MAX_MESSAGE_BYTES.
    """
    if not to:
        raise InvalidInput("The email has no recipient: add at least one To address.")
    for address in bcc:
        _address(address, None, "Bcc")
    if not _MESSAGE_ID.match(message_id):
        raise InvalidInput(f"{message_id!r} is not a valid Message-ID.")

    message = EmailMessage(policy=policy.SMTP)
    message["From"] = _address(from_addr, from_name, "sender")
    message["To"] = [_address(address, None, "To") for address in to]
    if cc:
        message["Cc"] = [_address(address, None, "Cc") for address in cc]
    if reply_to:
        message["Reply-To"] = _address(reply_to, None, "Reply-To")
    message["Subject"] = _one_line(subject, "subject")
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    message[CORRELATION_HEADER] = _one_line(correlation_id, "delivery reference")
    _add_provider_metadata(message, correlation_id)

    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        if not maintype or not subtype:
            raise InvalidInput(f"{attachment.mime_type!r} is not a MIME type such as application/pdf.")
        message.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=_one_line(attachment.filename, "attachment file name"),
        )

    size = _encoded_size_estimate(text, html, attachments)
    if size > MAX_MESSAGE_BYTES * 0.9:  # near the limit: measure exactly (a full serialisation)
        size = len(message.as_bytes())
    if size > MAX_MESSAGE_BYTES:
        raise InvalidInput(
            f"The attachments make this email {size / 1024 / 1024:.1f} MB; most providers refuse more than "
            f"{MAX_MESSAGE_BYTES // 1024 // 1024} MB. Send the PDF alone, or share the invoice link instead."
        )
    return message


def _add_provider_metadata(message: EmailMessage, correlation_id: str) -> None:
    """Ask each provider to echo the delivery reference in its webhooks (harmless elsewhere)."""
    metadata = json.dumps({PROVIDER_METADATA_KEY: correlation_id}, ensure_ascii=True)
    message[POSTMARK_METADATA_HEADER] = correlation_id
    message["X-SMTPAPI"] = json.dumps({"unique_args": {PROVIDER_METADATA_KEY: correlation_id}}, ensure_ascii=True)
    message["X-Mailgun-Variables"] = metadata


def make_message_id(domain: str) -> str:
    """`<20261101.3f9c…@example.com>`: unique, and on our own domain so replies thread."""
    _one_line(domain, "Message-ID domain")
    stamp = utcnow().strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{secrets.token_hex(12)}@{domain.strip().lower()}>"


# VERP tokens themselves are made and checked in services/delivery_checks.py (random, signed).


def verp_address(token: str, bounce_domain: str) -> str:
    """The envelope sender (return path) `bounces+TOKEN@bounce_domain`."""
    _one_line(token, "VERP token")
    _one_line(bounce_domain, "bounce domain")
    return f"{VERP_PREFIX}+{token}@{bounce_domain.strip().lower()}"


def parse_verp_address(address: str) -> str | None:
    """The token in `bounces+TOKEN@…`, or None when the address is not a VERP address of ours."""
    local, at, _ = address.strip().strip("<>").rpartition("@")
    prefix = f"{VERP_PREFIX}+"
    if not at or not local.lower().startswith(prefix):
        return None
    return local[len(prefix) :] or None
