"""Reading a message from the bounce mailbox: which recipients bounced, how, and for which delivery.

`read_bounce(raw)` never raises. It answers with a `BounceReading`: either a
`BounceReport`, or why there is none — `auto-reply` (an "out of office" is not a
bounce) or `unparseable` (kept and counted by the caller, see
services.tracking.events.record_unparsed).

How a message is read, in order:
1. An RFC 3464 report (`multipart/report; report-type=delivery-status`, found anywhere
   in the MIME tree): per recipient Action, Status, Diagnostic-Code, Remote-MTA; the
   original Message-ID and our `X-Invoicebot-Delivery` header from the returned
   `text/rfc822-headers` or `message/rfc822` part. Classification is by the *status
   code*, not the Action: 5.x.x is a hard (permanent) bounce, 4.x.x a soft (temporary)
   one even when the Action says `failed` (Postfix does that when a message expires in
   its queue; the recipient keeps a `note` saying so). `delayed` is `deferred`;
   `delivered`, `relayed` and `expanded` are `delivered` (Postfix says `relayed` once the
   recipient's server accepted the email: what the providers call delivered).
2. Otherwise, unless it bears an MTA's marks (null return path, mailer-daemon,
   X-Failed-Recipients), an auto-reply (RFC 3834 `Auto-Submitted: auto-replied`,
   `X-Autoreply`, `Precedence: auto_reply`, an "Out of Office" subject) is not a bounce.
3. Otherwise `flufl.bounce` (heuristics for Exim, qmail, old Exchange …). It returns
   addresses only, so an address it calls permanent is a hard bounce when the text
   says so (a 5.x.x code, "permanent", "does not exist", "user unknown" …) and a soft
   one otherwise; an address it calls temporary is `deferred`.

The VERP token comes from our return path `bounces+TOKEN@…`: the DSN's To,
Delivered-To, X-Original-To or Envelope-To header, the envelope recipient the mailbox
reader passes in, or the Return-Path of the returned headers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from services.tracking.bounce_fallback import read_non_standard
from services.tracking.bounce_report import (
    BouncedRecipient,
    BounceReading,
    BounceReport,
    NotBounce,
    first_date,
    original_fields,
    verp_token_in,
)
from services.tracking.dsn import (
    after_type,
    auto_reply_marker,
    header_text,
    looks_like_bounce,
    read_status_fields,
    reason_for_status,
    returned_headers,
    status_code,
)
from services.tracking.event_types import IncomingEvent

__all__ = [
    "BounceReading",
    "BounceReport",
    "BouncedRecipient",
    "NotBounce",
    "dsn_event_id",
    "events_from_report",
    "parse_bounce",
    "read_bounce",
]

MAX_RAW_BYTES = 1024 * 1024  # the report comes first; a returned 10 MB invoice is not needed
MAX_PARTS = 200
MAX_RECIPIENTS = 100
_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
_HEADER_PARTS = ("text/rfc822-headers", "message/rfc822", "message/rfc822-headers", "message/global-headers")


def parse_bounce(raw: bytes, *, envelope_to: str | None = None) -> BounceReport | None:
    """The report in a bounce message, or None (auto-reply or unparseable: see `read_bounce`)."""
    return read_bounce(raw, envelope_to=envelope_to).report


def read_bounce(raw: bytes, *, envelope_to: str | None = None) -> BounceReading:
    """Read one message from the bounce mailbox. Never raises: anything odd is `unparseable`."""
    try:
        message = message_from_bytes(bytes(raw[:MAX_RAW_BYTES]), policy=compat32)
        return _read(message, envelope_to)
    except Exception as exc:  # the contract: a bad message never stops the loop
        return BounceReading(None, NotBounce.UNPARSEABLE, f"the message could not be read ({type(exc).__name__})")


def _read(message: Message, envelope_to: str | None) -> BounceReading:
    status_part, headers_part = _report_parts(message)
    if status_part is not None:
        report = _rfc3464(message, status_part, headers_part, envelope_to)
        if report.recipients:
            return BounceReading(report)
    marker = None if looks_like_bounce(message) else auto_reply_marker(message)
    if marker is not None and status_part is None:
        return BounceReading(None, NotBounce.AUTO_REPLY, f"not a bounce: auto-reply ({marker})")
    fallback = read_non_standard(message, headers_part, envelope_to)
    if fallback is not None:
        return BounceReading(fallback)
    return BounceReading(None, NotBounce.UNPARSEABLE, "no delivery report and no bounced address found")


def _report_parts(message: Message) -> tuple[Message | None, Message | None]:
    status_part = headers_part = None
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            break
        content_type = part.get_content_type()
        if status_part is None and content_type in _STATUS_PARTS:
            status_part = part
        elif headers_part is None and content_type in _HEADER_PARTS:
            headers_part = part
    return status_part, headers_part


def _classify(action: str, status: str | None) -> tuple[str, str | None, str | None]:
    """(event type, bounce kind, note) from the Action and the status code, by the rules above."""
    klass = status[0] if status else None
    if action == "delayed":
        return "deferred", "soft", None
    if action in ("delivered", "relayed", "expanded") or (not action and klass == "2"):
        return "delivered", None, None
    if klass == "4":
        note = f"the report says '{action}', but {status} is a temporary status" if action == "failed" else None
        return "bounced", "soft", note
    if action == "failed" or klass == "5":
        return "bounced", "hard", None
    return "deferred", "soft", f"unrecognised action {action!r}" if action else "no action given"


def _recipient(fields: dict[str, str]) -> BouncedRecipient | None:
    final = after_type(fields.get("final-recipient"))
    original = after_type(fields.get("original-recipient"))
    address = final or original
    if not address:
        return None
    diagnostic = fields.get("diagnostic-code")
    status = status_code(fields.get("status"))
    detailed = status_code(diagnostic)
    if detailed and (status is None or (status.endswith(".0.0") and detailed[0] == status[0])):
        status = detailed  # Exim writes 5.0.0 and the real code only in the diagnostic
    action = (fields.get("action") or "").split()[0].lower() if fields.get("action") else ""
    event_type, bounce_kind, note = _classify(action, status)
    reason = reason_for_status(status) if event_type in ("bounced", "deferred") else event_type
    return BouncedRecipient(
        recipient=address[:320],
        original_recipient=original[:320] if original else None,
        action=action[:32],
        status=status,
        event_type=event_type,
        bounce_kind=bounce_kind,
        diagnostic=after_type(diagnostic) if diagnostic else None,
        remote_mta=after_type(fields.get("remote-mta")),
        reason=reason,
        note=note,
    )


def _rfc3464(
    message: Message, status_part: Message, headers_part: Message | None, envelope_to: str | None
) -> BounceReport:
    fields = read_status_fields(status_part)
    original = returned_headers(headers_part) if headers_part is not None else None
    recipients = [r for r in (_recipient(group) for group in fields.per_recipient[:MAX_RECIPIENTS]) if r]
    message_id, correlation = original_fields(original)
    arrival = fields.per_message.get("arrival-date")
    envid = fields.per_message.get("original-envelope-id")
    return BounceReport(
        kind="rfc3464",
        recipients=tuple(recipients),
        dsn_message_id=header_text(message, "Message-ID"),
        reporting_mta=after_type(fields.per_message.get("reporting-mta")),
        envid=envid.strip() if envid else None,
        arrival_date=arrival,
        original_message_id=message_id,
        correlation_id=correlation,
        verp_token=verp_token_in(message, original, envelope_to),
        occurred_at=first_date(header_text(message, "Date"), arrival),
    )


def dsn_event_id(report: BounceReport, recipient: BouncedRecipient, raw: bytes) -> str:
    """A stable id for deduplication: the DSN (its Message-ID or bytes), the original message, recipient, status."""
    origin = report.dsn_message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    # The original message's identity too: one MTA's DSN Message-IDs are not always unique.
    about = f"{report.original_message_id}|{report.verp_token}|{report.envid}"
    key = f"{origin}|{about}|{recipient.recipient.lower()}|{recipient.status}|{recipient.action}"
    return "dsn:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:40]


def events_from_report(report: BounceReport, *, raw: bytes, now: datetime) -> list[IncomingEvent]:
    """One `IncomingEvent` per recipient of the report, ready for `record_delivery_event`."""
    text = raw[:MAX_RAW_BYTES].decode("utf-8", "replace")
    events = []
    for recipient in report.recipients:
        extra: dict[str, str] = {"action": recipient.action, "report": report.kind}
        for name, value in (("remote_mta", recipient.remote_mta), ("reporting_mta", report.reporting_mta),
                            ("note", recipient.note)):  # fmt: skip
            if value:
                extra[name] = value
        events.append(
            IncomingEvent(
                source="dsn",
                type=recipient.event_type,
                recipient=recipient.recipient,
                occurred_at=report.occurred_at or now,
                source_event_id=dsn_event_id(report, recipient, raw),
                raw=text,
                bounce_kind=recipient.bounce_kind,
                status_code=recipient.status,
                diagnostic=recipient.diagnostic,
                verp_token=report.verp_token or report.correlation_id,
                message_id=report.original_message_id,
                envid=report.envid,
                extra=extra,
            )
        )
    return events
