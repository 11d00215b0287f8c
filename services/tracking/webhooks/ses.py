"""Amazon SES notifications (inside SNS Notification messages): one event per recipient.

Both SES formats are read: *notifications* (`notificationType` Bounce / Complaint /
Delivery) and *event publishing* (`eventType`, which adds Open, DeliveryDelay, Reject…).
SES replaces the Message-ID header, so correlation uses the original headers SES echoes
in `mail.headers`: our `X-Invoicebot-Delivery` token first, then our Message-ID.
"""

from __future__ import annotations

from typing import Any

from services.email.message import CORRELATION_HEADER
from services.tracking.event_types import IncomingEvent
from services.tracking.webhooks.errors import WebhookFormatError
from services.tracking.webhooks.fields import as_object, iso_time, load_json, optional_text, text
from services.tracking.webhooks.sns import NOTIFICATION, SnsMessage

SOURCE = "ses"

# bounceType Permanent → hard; Transient (SES stopped trying) and Undetermined → soft.
_BOUNCE_KINDS = {"Permanent": "hard", "Transient": "soft", "Undetermined": "soft"}


def _headers(mail: dict[str, Any]) -> dict[str, str]:
    """The original headers SES echoes (name lower-cased; the first of each name wins)."""
    found: dict[str, str] = {}
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and isinstance(header.get("name"), str) and isinstance(header.get("value"), str):
            found.setdefault(header["name"].lower(), header["value"].strip())
    return found


def _addresses(items: object, *, plain_strings: bool = False) -> list[dict[str, Any]]:
    """`[{"emailAddress": …, …}]` or `["a@x", …]` as a list of dicts with `emailAddress`."""
    if not isinstance(items, list):
        raise WebhookFormatError("The SES notification lists no recipients.")
    result: list[dict[str, Any]] = []
    for item in items:
        if plain_strings and isinstance(item, str):
            result.append({"emailAddress": item})
        elif isinstance(item, dict) and isinstance(item.get("emailAddress"), str):
            result.append(item)
        else:
            raise WebhookFormatError("The SES notification has a recipient without an address.")
    return result


def _recipients(kind: str, notification: dict[str, Any], mail: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The event type's detail object name and its recipients."""
    if kind == "Bounce":
        return "bounce", _addresses(as_object(notification.get("bounce"), "bounce").get("bouncedRecipients"))
    if kind == "Complaint":
        complaint = as_object(notification.get("complaint"), "complaint")
        return "complaint", _addresses(complaint.get("complainedRecipients"))
    if kind == "Delivery":
        return "delivery", _addresses(
            as_object(notification.get("delivery"), "delivery").get("recipients"), plain_strings=True
        )
    if kind == "DeliveryDelay":
        delay = as_object(notification.get("deliveryDelay"), "deliveryDelay")
        return "deliveryDelay", _addresses(delay.get("delayedRecipients"))
    if kind == "Open":
        return "open", _addresses(mail.get("destination"), plain_strings=True)
    return "reject", _addresses(mail.get("destination"), plain_strings=True)


_TYPES = {"Bounce": "bounced", "Complaint": "complained", "Delivery": "delivered", "DeliveryDelay": "deferred",
          "Open": "opened", "Reject": "dropped"}  # fmt: skip


def parse(message: SnsMessage) -> list[IncomingEvent]:
    """The events of one SES notification (empty for kinds we do not follow: Send, Click…)."""
    if message.type != NOTIFICATION:
        return []
    notification = as_object(load_json(message.message.encode(), "Amazon SES"), "SES notification")
    kind = optional_text(notification, "notificationType") or text(notification, "eventType", "SES notification")
    if kind not in _TYPES:
        return []
    mail = as_object(notification.get("mail"), "SES mail")
    ses_message_id = text(mail, "messageId", "SES mail")
    headers = _headers(mail)
    common_headers = mail.get("commonHeaders")
    original_id = headers.get("message-id") or (
        optional_text(common_headers, "messageId") if isinstance(common_headers, dict) else None
    )
    detail_name, recipients = _recipients(kind, notification, mail)
    detail = notification.get(detail_name)
    detail = detail if isinstance(detail, dict) else {}
    when = iso_time(detail.get("timestamp") or mail.get("timestamp"), "SES timestamp")
    feedback_id = optional_text(detail, "feedbackId")
    bounce_kind = _BOUNCE_KINDS.get(str(detail.get("bounceType"))) if kind == "Bounce" else None
    if kind == "Bounce" and bounce_kind is None:
        raise WebhookFormatError("The SES bounce has no known 'bounceType'.")
    events: list[IncomingEvent] = []
    for recipient in recipients:
        address = recipient["emailAddress"].strip()
        dedup = f"{ses_message_id}:{kind}:{address.lower()}" + (f":{feedback_id}" if feedback_id else "")
        diagnostic = (
            optional_text(recipient, "diagnosticCode")
            or optional_text(detail, "smtpResponse")
            or optional_text(detail, "reason")
            or optional_text(detail, "complaintFeedbackType")
        )
        events.append(
            IncomingEvent(
                source=SOURCE,
                type=_TYPES[kind],
                recipient=address,
                occurred_at=when,
                source_event_id=dedup,
                bounce_kind=bounce_kind,
                status_code=optional_text(recipient, "status"),
                diagnostic=diagnostic,
                raw=message.message,
                verp_token=headers.get(CORRELATION_HEADER.lower()),
                message_id=original_id,
                envid=None,
                extra={"ses_message_id": ses_message_id},
            )
        )
    return events
