"""Non-standard bounces (not RFC 3464 reports), read with flufl.bounce.

flufl.bounce knows the heuristics of Exim, qmail, old Exchange and others, but returns
addresses only (and classifies by wording, so a `failed` 4.x.x counts as permanent). So
an address it calls permanent is a hard bounce only when the text says so — a 5.x.x
code, "permanent", "does not exist", "user unknown" … — and a soft one otherwise; an
address it calls temporary is `deferred`. The returned message is often pasted as text:
its Message-ID and our correlation header are looked for there too.
"""

from __future__ import annotations

import re
from email.message import Message

from flufl.bounce import all_failures

from services.email.message import CORRELATION_HEADER
from services.tracking.bounce_report import (
    BouncedRecipient,
    BounceReport,
    first_date,
    original_fields,
    verp_token_in,
)
from services.tracking.dsn import header_text, reason_for_status, returned_headers, status_code

MAX_PARTS = 200
MAX_RECIPIENTS = 100
_PERMANENT_WORDS = re.compile(
    r"permanent|does not exist|doesn't exist|user unknown|unknown user|no such (user|mailbox|recipient)|"
    r"mailbox unavailable|address rejected|invalid recipient|\b5\d\d\b",
    re.IGNORECASE,
)


_INLINE_MESSAGE_ID = re.compile(r"^Message-ID:[ \t]*(<[^>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)
_INLINE_CORRELATION = re.compile(rf"^{CORRELATION_HEADER}:[ \t]*([A-Za-z0-9-]{{1,200}})", re.IGNORECASE | re.MULTILINE)


def _text_of(message: Message) -> str:
    chunks: list[str] = []
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            break
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(payload[:200_000].decode("utf-8", "replace"))
    return "\n".join(chunks)


def read_non_standard(message: Message, headers_part: Message | None, envelope_to: str | None) -> BounceReport | None:
    """flufl.bounce for messages that are not RFC 3464 reports (addresses only; see the module doc)."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector choking on odd input means "no addresses"
        return None
    if not temporary and not permanent:
        return None
    text = _text_of(message)
    status = status_code(text)
    hard = bool(_PERMANENT_WORDS.search(text)) and not (status or "").startswith("4")
    recipients: list[BouncedRecipient] = []
    for raw_address, event_type in [(a, "bounced") for a in sorted(permanent)] + [
        (a, "deferred") for a in sorted(temporary - permanent)
    ]:
        address = raw_address.decode("utf-8", "replace") if isinstance(raw_address, bytes) else str(raw_address)
        kind = "hard" if event_type == "bounced" and hard else "soft"
        recipients.append(
            BouncedRecipient(
                recipient=address.strip("<>")[:320],
                original_recipient=None,
                action="failed" if event_type == "bounced" else "delayed",
                status=status,
                event_type=event_type,
                bounce_kind=kind,
                diagnostic=None,
                remote_mta=None,
                reason=reason_for_status(status) if status else "the receiving server returned the email",
                note="not a standard report: read by flufl.bounce, classified from its text",
            )
        )
    original = returned_headers(headers_part) if headers_part is not None else None
    message_id, correlation = original_fields(original)
    if message_id is None and (found := _INLINE_MESSAGE_ID.search(text)):
        message_id = found.group(1)  # the returned message pasted as text, as old Exims do
    if correlation is None and (found := _INLINE_CORRELATION.search(text)):
        correlation = found.group(1)
    return BounceReport(
        kind="fallback",
        recipients=tuple(recipients[:MAX_RECIPIENTS]),
        dsn_message_id=header_text(message, "Message-ID"),
        reporting_mta=None,
        envid=None,
        arrival_date=None,
        original_message_id=message_id,
        correlation_id=correlation,
        verp_token=verp_token_in(message, original, envelope_to),
        occurred_at=first_date(header_text(message, "Date")),
    )
