"""Postmark webhooks: Delivery, Bounce, SpamComplaint and Open records, one per request.

Postmark does not sign webhooks; its documented protection is HTTP basic auth in the
webhook URL (`https://user:password@host/webhooks/postmark`). `verify` checks the
`Authorization` header in constant time. Correlation: the `X-PM-Metadata-invoicebot-delivery`
header we send comes back as `Metadata["invoicebot-delivery"]`.
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any

from services.email.message import POSTMARK_METADATA_HEADER
from services.tracking.event_types import IncomingEvent
from services.tracking.webhooks.errors import WebhookAuthError, WebhookFormatError
from services.tracking.webhooks.fields import as_object, iso_time, load_json, optional_text, text

SOURCE = "postmark"
METADATA_KEY = POSTMARK_METADATA_HEADER.removeprefix("X-PM-Metadata-")

# Bounce `Type`s (Postmark's bounce API): which are bounces, and how hard.
_HARD_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked", "DMARCPolicy"})
_SOFT_BOUNCES = frozenset({"SoftBounce", "DnsError", "Unknown", "SMTPApiError", "VirusNotification"})
_DEFERRALS = frozenset({"Transient"})
_COMPLAINTS = frozenset({"SpamComplaint"})
# AutoResponder, Subscribe, Unsubscribe, AddressChange, ChallengeVerification, OpenRelayTest,
# SpamNotification, InboundError, TemplateRenderingFailed…: not about this email reaching its reader.


def verify(*, authorization: str | None, user: str, password: str) -> None:
    """Raise WebhookAuthError unless the request carries our basic-auth credentials."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookAuthError("The Postmark webhook has no credentials.")
    try:
        given_user, colon, given_password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error, or non-ASCII text (ValueError)
        raise WebhookAuthError("The Postmark webhook's credentials are malformed.") from exc
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    if not (colon and user_ok and password_ok):
        raise WebhookAuthError("The Postmark webhook's credentials are wrong.")


def _token(record: dict[str, Any]) -> str | None:
    metadata = record.get("Metadata")
    if not isinstance(metadata, dict):
        return None
    return optional_text(metadata, METADATA_KEY)


def parse(body: bytes) -> list[IncomingEvent]:
    """The events of one Postmark record; record types we do not follow give an empty list."""
    record = as_object(load_json(body, "Postmark"), "Postmark record")
    record_type = text(record, "RecordType", "Postmark record")
    message_id = optional_text(record, "MessageID")
    common: dict[str, Any] = {
        "source": SOURCE,
        "verp_token": _token(record),
        "message_id": message_id,
        "envid": None,
        "raw": json.dumps(record, ensure_ascii=False, sort_keys=True),
    }
    if record_type in ("Delivery", "Open"):
        recipient = text(record, "Recipient", f"Postmark {record_type} record")
        when = iso_time(record.get("DeliveredAt" if record_type == "Delivery" else "ReceivedAt"), "time")
        return [
            IncomingEvent(
                **common,
                type="delivered" if record_type == "Delivery" else "opened",
                recipient=recipient,
                occurred_at=when,
                source_event_id=f"{message_id}:{record_type}:{recipient.lower()}",
                bounce_kind=None,
                status_code=None,
                diagnostic=optional_text(record, "Details"),
            )
        ]
    if record_type not in ("Bounce", "SpamComplaint"):
        return []
    bounce_type = text(record, "Type", "Postmark bounce")
    if bounce_type in _COMPLAINTS or record_type == "SpamComplaint":
        event_type, kind = "complained", None
    elif bounce_type in _HARD_BOUNCES:
        event_type, kind = "bounced", "hard"
    elif bounce_type in _SOFT_BOUNCES:
        event_type, kind = "bounced", "soft"
    elif bounce_type in _DEFERRALS:
        event_type, kind = "deferred", None
    else:
        return []
    bounce_id = optional_text(record, "ID")
    if bounce_id is None:
        raise WebhookFormatError("The Postmark bounce has no 'ID'.")
    description = optional_text(record, "Description")
    details = optional_text(record, "Details")
    return [
        IncomingEvent(
            **common,
            type=event_type,
            recipient=text(record, "Email", "Postmark bounce"),
            occurred_at=iso_time(record.get("BouncedAt"), "BouncedAt"),
            source_event_id=f"{record_type}:{bounce_id}",
            bounce_kind=kind,
            status_code=None,
            diagnostic=" — ".join(part for part in (bounce_type, description, details) if part),
        )
    ]
