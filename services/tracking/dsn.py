"""Reading the fields of an RFC 3464 delivery status notification, and RFC 3463 status codes.

Only the standard library's parser is used, with the lenient `compat32` policy: bounce
messages are written by every MTA under the sun, often with broken charsets or folding,
and the strict policies raise on values they cannot decode. Every value read here is
turned into a plain `str` with undecodable bytes replaced, and capped in length, so a
caller never meets a `Header` object, bytes, or a megabyte-long "status".

The plain-words reasons are a table over RFC 3463 codes (exact code first, then
`x.subject.detail` for either class, then the subject), so a finance person reads
"the mailbox does not exist" rather than `5.1.1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32

MAX_FIELD_CHARS = 2000
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def header_text(message: Message, name: str) -> str | None:
    """One header as clean text (RFC 2047 words decoded, whitespace unfolded), or None."""
    value = message.get(name)
    return None if value is None else clean_header(value)


def clean_header(value: object) -> str | None:
    """A header value as one line of text, encoded words decoded, at most MAX_FIELD_CHARS."""
    text = str(value)
    if "=?" in text:  # RFC 2047 encoded words: rare in report fields, costly to decode
        text = _decoded(text)
    return " ".join(text.split())[:MAX_FIELD_CHARS] or None


def _decoded(text: str) -> str:
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # any malformed encoded word: keep the raw text
        return text


def status_code(text: str | None) -> str | None:
    """The first `x.y.z` status code in a Status or Diagnostic-Code value, or None."""
    match = _STATUS.search(text or "")
    return None if match is None else ".".join(match.groups())


def after_type(value: str | None) -> str | None:
    """`rfc822; ap@acme.example` → `ap@acme.example` (the address-type / MTA-name-type prefix dropped)."""
    if not value:
        return None
    _, semicolon, rest = value.partition(";")
    found = (rest if semicolon else value).strip().strip("<>").strip()
    return found or None


@dataclass(frozen=True)
class StatusFields:
    """The per-message fields and the per-recipient field groups of one delivery-status part."""

    per_message: dict[str, str]
    per_recipient: tuple[dict[str, str], ...]


def _fields(block: Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in block.items():
        text = clean_header(value)
        if text is not None:
            fields.setdefault(name.lower(), text)
    return fields


def _blocks_from_text(text: str) -> list[Message]:
    """Split a delivery-status body the parser did not split itself (blank-line separated groups)."""
    parser = HeaderParser(policy=compat32)
    groups = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [parser.parsestr(group.strip() + "\n") for group in groups if group.strip()]


def read_status_fields(part: Message) -> StatusFields:
    """The field groups of a `message/delivery-status` part, however the parser left it.

    A well-formed part is a list of header blocks; a truncated or oddly encoded one may
    come back as one text payload, which is split on blank lines instead.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = [block for block in payload if isinstance(block, Message)]
    else:
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload or "")
        blocks = _blocks_from_text(text)
    groups = [_fields(block) for block in blocks]
    groups = [group for group in groups if group]
    if not groups:
        return StatusFields(per_message={}, per_recipient=())
    first, rest = groups[0], groups[1:]
    if "final-recipient" in first or "original-recipient" in first:
        # Some MTAs omit the per-message block: the first group is already a recipient.
        return StatusFields(per_message={}, per_recipient=tuple(groups))
    return StatusFields(per_message=first, per_recipient=tuple(rest))


def returned_headers(part: Message) -> Message | None:
    """The original message's headers from a `text/rfc822-headers` or `message/rfc822` part."""
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        content_type = "text/rfc822-headers"  # an unparsed body: read its headers from the text
    if content_type in ("text/rfc822-headers", "message/rfc822-headers"):
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            raw = str(part.get_payload() or "").encode("utf-8", "replace")
        return BytesHeaderParser(policy=compat32).parsebytes(raw.lstrip(b"\r\n"))
    return None


# RFC 3463: class.subject.detail. Looked up exactly, then as `*.subject.detail`, then `*.subject`.
_REASONS: dict[str, str] = {
    "x.1.0": "the address was refused",
    "x.1.1": "the mailbox does not exist",
    "x.1.2": "the recipient's domain does not exist",
    "x.1.3": "the address is not valid",
    "x.1.4": "the address is ambiguous at the receiving server",
    "x.1.6": "the mailbox has moved and has no forwarding address",
    "x.1.10": "the address does not exist (or its domain accepts no email)",
    "x.1": "the address is wrong",
    "x.2.0": "the mailbox refused the email",
    "x.2.1": "the mailbox is disabled and not accepting email",
    "x.2.2": "mailbox full",
    "x.2.3": "the email is too large for the mailbox",
    "x.2.4": "the mailing list could not be expanded",
    "x.2": "the mailbox refused the email",
    "x.3.1": "the receiving server is out of space",
    "x.3.4": "the email is too large for the receiving server",
    "x.3": "the receiving server has a problem",
    "5.4.1": "the receiving server refused the address",
    "x.4.1": "the receiving server did not answer",
    "x.4.4": "the recipient's domain has no mail server",
    "x.4.7": "the email could not be delivered in time (the receiving server kept refusing it)",
    "x.4": "the receiving server could not be reached",
    "x.5": "the receiving server refused the email (protocol error)",
    "x.6": "the receiving server could not handle the email's content",
    "5.7.1": "rejected as spam or by the recipient's policy",
    "x.7.26": "rejected: the sender's domain failed authentication (SPF/DKIM/DMARC)",
    "x.7": "rejected as spam",
}
_CLASS_WORDS = {
    "2": "delivered",
    "4": "a temporary problem at the receiving server",
    "5": "the receiving server refused the email",
}


def reason_for_status(code: str | None) -> str:
    """Plain words for an RFC 3463 status code (`5.1.1` → "the mailbox does not exist")."""
    normal = status_code(code)
    if normal is None:
        return "the receiving server gave no reason"
    klass, subject, detail = normal.split(".")
    for key in (normal, f"x.{subject}.{detail}", f"x.{subject}"):
        if key in _REASONS:
            return _REASONS[key]
    return _CLASS_WORDS[klass]


_AUTO_REPLY_SUBJECT = re.compile(
    r"out of (the )?office|auto(matic)?[ -]?(reply|response|antwort)|abwesenheit|absence|vacation|"
    r"r[ée]ponse automatique|fuera de la oficina|risposta automatica",
    re.IGNORECASE,
)


_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery (subsystem|system)", re.IGNORECASE)


def looks_like_bounce(message: Message) -> bool:
    """Signs of a message written by an MTA (null return path, a mailer-daemon sender, X-Failed-Recipients).

    Bounces carry `Auto-Submitted: auto-replied` as auto-replies do (RFC 3834), so this
    decides which of the two a non-standard message is.
    """
    if message.get("X-Failed-Recipients") is not None:
        return True
    if (header_text(message, "Return-Path") or "").replace(" ", "") == "<>":
        return True
    return bool(_DAEMON.search(header_text(message, "From") or ""))


def auto_reply_marker(message: Message) -> str | None:
    """Why this message looks like an auto-reply (RFC 3834 and common vendor headers), or None.

    Checked only for messages that are not a delivery-status report: Postfix and others
    mark their DSNs `Auto-Submitted: auto-replied` too.
    """
    submitted = (header_text(message, "Auto-Submitted") or "").lower()
    if submitted.startswith("auto-replied"):
        return "Auto-Submitted: auto-replied"
    for name in ("X-Autoreply", "X-Autorespond"):
        if message.get(name) is not None:
            return name
    precedence = (header_text(message, "Precedence") or "").lower()
    if precedence in ("auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    subject = header_text(message, "Subject") or ""
    if _AUTO_REPLY_SUBJECT.search(subject):
        return f"Subject: {subject[:80]}"
    return None
