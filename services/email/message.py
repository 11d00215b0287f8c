"""The invoice email as a MIME message, its Message-ID, and the signed VERP return path.

The message is written as bytes (CRLF line ends, headers folded and RFC 2047/2231-encoded
with the standard library's helpers) because `EmailMessage` costs milliseconds per invoice
in the send path; `compose_message` parses those same bytes back into an `EmailMessage`
for callers that inspect it. Values that become headers are checked here
so a line break in a subject or a name can never add a header (header injection): they
are refused with a sentence the person can act on.

Bcc addresses never appear in the message: they belong to the SMTP envelope only
(`envelope_recipients`).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import encode_rfc2231, format_datetime, formataddr, quote

from services.clock import utcnow
from services.email.addresses import envelope_address
from services.errors import InvalidInput

# The largest email invoicebot composes, *after* base64 encoding (which adds a third): the
# invoice's PDF and UBL plus 25 MB of extra attachments (services.sending.extra_files, issue 16)
# come to about 35 MiB. Gmail and Microsoft 365 take that much; a server that takes less
# answers 552 and the delivery fails with its reason, like any refusal.
MAX_MESSAGE_BYTES = 36 * 1024 * 1024

CORRELATION_HEADER = "X-Invoicebot-Delivery"
# The same token again, in the headers each email provider turns into webhook metadata:
# Postmark's `Metadata`, SendGrid's per-event custom arguments, Mailgun's
# `user-variables`. (Amazon SES echoes the original headers, ours included.)
PROVIDER_METADATA_KEY = "invoicebot_delivery"
POSTMARK_METADATA_HEADER = "X-PM-Metadata-invoicebot-delivery"
VERP_PREFIX = "bounces"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MIME_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$")
_MAX_LINE = 78  # RFC 5322: lines SHOULD stay within 78 characters (998 is the hard limit)
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
        if addr_spec.strip().isascii():
            return Address(display_name=display_name or "", addr_spec=addr_spec.strip())
        envelope_address(addr_spec)  # the standard library refuses non-ASCII local parts: check it here
        local, _, domain = addr_spec.strip().rpartition("@")
        return Address(display_name=display_name or "", username=local, domain=domain)
    except (ValueError, IndexError, InvalidInput) as exc:
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


@dataclass(frozen=True, kw_only=True)
class OutgoingEmail:
    """One email as it will leave: its headers, both bodies and its attachments."""

    from_addr: str
    from_name: str | None
    reply_to: str | None
    to: Sequence[str]
    cc: Sequence[str]
    bcc: Sequence[str]
    subject: str
    text: str
    html: str
    attachments: Sequence[Attachment]
    message_id: str
    correlation_id: str


def compose_message_bytes(email: OutgoingEmail) -> bytes:
    """The email as SMTP-ready bytes (CRLF): multipart/alternative (text + HTML), inside
    multipart/mixed when there are attachments.

    Written directly rather than through `EmailMessage`, whose header objects and line-by-line
    generator cost a few milliseconds per invoice in the send path; the structure, encodings
    and header safety are the same. `email.bcc` is only checked here: it is not written into the
    message; pass it to the envelope (`envelope_recipients`). Raises InvalidInput for a header
    value with a line break, a malformed address, or a message larger than MAX_MESSAGE_BYTES.
    """
    if not email.to:
        raise InvalidInput("The email has no recipient: add at least one To address.")
    for address in email.bcc:
        _address(address, None, "Bcc")
    if not _MESSAGE_ID.match(email.message_id):
        raise InvalidInput(f"{email.message_id!r} is not a valid Message-ID.")

    headers = [_fold("From", _address_text(_address(email.from_addr, email.from_name, "sender")))]
    headers.append(_fold("To", ", ".join(_address_text(_address(a, None, "To")) for a in email.to)))
    if email.cc:
        headers.append(_fold("Cc", ", ".join(_address_text(_address(a, None, "Cc")) for a in email.cc)))
    if email.reply_to:
        headers.append(_fold("Reply-To", _address_text(_address(email.reply_to, None, "Reply-To"))))
    headers.append(_unstructured("Subject", _one_line(email.subject, "subject")))
    headers.append(f"Date: {format_datetime(utcnow())}")
    headers.append(f"Message-ID: {email.message_id}")
    headers.append(_unstructured(CORRELATION_HEADER, _one_line(email.correlation_id, "delivery reference")))
    headers.extend(_unstructured(name, value) for name, value in _provider_metadata(email.correlation_id))

    body = _multipart("alternative", [_text_part(email.text, "plain"), _text_part(email.html, "html")])
    if email.attachments:
        body = _multipart("mixed", [body, *(_attachment_part(a) for a in email.attachments)])
    message = ("\r\n".join(headers) + "\r\nMIME-Version: 1.0\r\n").encode("utf-8") + body

    size = len(message)
    if size > MAX_MESSAGE_BYTES:
        raise InvalidInput(
            f"The attachments make this email {size / 1024 / 1024:.1f} MB; mail servers commonly refuse more than "
            f"{MAX_MESSAGE_BYTES // 1024 // 1024} MB. Send fewer or smaller attachments, or share the invoice link."
        )
    return message


def compose_message(email: OutgoingEmail) -> EmailMessage:
    """`compose_message_bytes` parsed back into an `EmailMessage` (policy SMTP), for callers
    that inspect headers or parts; same email, same InvalidInput errors."""
    return BytesParser(policy=policy.SMTP).parsebytes(compose_message_bytes(email))


def _provider_metadata(correlation_id: str) -> list[tuple[str, str]]:
    """Ask each provider to echo the delivery reference in its webhooks (harmless elsewhere)."""
    metadata = json.dumps({PROVIDER_METADATA_KEY: correlation_id}, ensure_ascii=True)
    return [
        (POSTMARK_METADATA_HEADER, correlation_id),
        ("X-SMTPAPI", json.dumps({"unique_args": {PROVIDER_METADATA_KEY: correlation_id}}, ensure_ascii=True)),
        ("X-Mailgun-Variables", metadata),
    ]


def _address_text(address: Address) -> str:
    """`Name <local@domain>`: a non-ASCII name as RFC 2047 encoded words, a non-ASCII domain in
    IDNA A-labels (services.email.addresses, IDNA 2008) so a 7-bit header carries it. A non-ASCII
    local part has no ASCII form: it is written as UTF-8 (RFC 6532), and the message then
    needs a server offering SMTPUTF8 (the transport checks; forms refuse it before that)."""
    addr_spec = address.addr_spec
    if not addr_spec.isascii():
        try:
            wire = envelope_address(addr_spec)
        except InvalidInput as exc:
            raise InvalidInput(f"{addr_spec!r} is not a valid address.") from exc
        addr_spec = address.addr_spec if wire.needs_smtputf8 else wire.wire
    if not address.display_name:
        return addr_spec
    return formataddr((address.display_name, addr_spec), charset="utf-8").replace("\n", "\r\n")


def _unstructured(name: str, value: str) -> str:
    """A free-text header: as it is when plain ASCII, else RFC 2047 encoded words."""
    if value.isascii() and "=?" not in value and max(map(len, value.split(" "))) < _MAX_LINE:
        return _fold(name, value)
    return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _fold(name: str, value: str) -> str:
    """`Name: value`, folded at spaces to keep lines within 78 characters where it can."""
    line = f"{name}: {value}"
    if len(line) <= _MAX_LINE or "\r\n" in value:
        return line
    lines: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > _MAX_LINE and current.strip() and current != f"{name}:":
            lines.append(current)
            current = ""
        current = f"{current} {word}"
    lines.append(current)
    return "\r\n".join(lines)


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    """A multipart entity (headers + body) whose boundary occurs in none of its parts."""
    for _ in range(10):
        boundary = f"==============={secrets.token_hex(12)}=="
        if not any(boundary.encode("ascii") in part for part in parts):
            break
    else:  # pragma: no cover - 96 random bits colliding ten times
        raise InvalidInput("Could not separate the parts of this email; try again.")
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n\r\n'.encode("ascii")
    return head + delimiter[2:] + delimiter.join(parts) + f"\r\n--{boundary}--\r\n".encode("ascii")


def _text_part(content: str, subtype: str) -> bytes:
    """A UTF-8 text part, encoded as the standard library chooses: as it is (7bit/8bit) when
    every line is short, base64 otherwise. Line ends become CRLF."""
    lines = content.encode("utf-8").splitlines()
    data = b"\r\n".join(lines) + b"\r\n"
    if max((len(line) for line in lines), default=0) <= _MAX_LINE:
        encoding = "7bit" if data.isascii() else "8bit"
    else:
        encoding, data = "base64", _base64(data)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    return head.encode("ascii") + data


def _attachment_part(attachment: Attachment) -> bytes:
    """A base64 attachment; a non-ASCII file name is written as RFC 2231 `filename*=utf-8''…`."""
    if not _MIME_TYPE.match(attachment.mime_type):
        raise InvalidInput(f"{attachment.mime_type!r} is not a MIME type such as application/pdf.")
    filename = _one_line(attachment.filename, "attachment file name")
    if filename.isascii():
        parameter = f'filename="{quote(filename)}"'
    else:
        parameter = f"filename*={encode_rfc2231(filename, 'utf-8')}"
    # A text attachment is UTF-8 (services.sending.extra_files accepts no other): say so, or a mail
    # program reads it as ASCII and shows "—" as garbage.
    charset = '; charset="utf-8"' if attachment.mime_type.startswith("text/") else ""
    head = (
        f"Content-Type: {attachment.mime_type}{charset}\r\nContent-Transfer-Encoding: base64\r\n"
        f"{_fold('Content-Disposition', f'attachment; {parameter}')}\r\n\r\n"
    )
    return head.encode("ascii") + _base64(attachment.content)


def _base64(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines, the MIME maximum."""
    encoded = base64.b64encode(data)
    return b"".join(encoded[start : start + 76] + b"\r\n" for start in range(0, len(encoded), 76))


def make_message_id(domain: str) -> str:
    """`<20261101.3f9c…@example.com>`: unique, and on our own domain so replies thread."""
    _one_line(domain, "Message-ID domain")
    stamp = utcnow().strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{secrets.token_hex(12)}@{domain.strip().lower()}>"


# VERP tokens themselves are made and checked in services/sending/checks.py (random, signed).


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
