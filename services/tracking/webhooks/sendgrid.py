"""SendGrid's Event Webhook: a JSON array of events, signed with ECDSA P-256.

Signed Event Webhook: SendGrid signs `timestamp + raw body` (bytes, exactly as received)
with ECDSA over P-256 and SHA-256; the headers are `X-Twilio-Email-Event-Webhook-Signature`
(base64 DER signature) and `X-Twilio-Email-Event-Webhook-Timestamp`; the verification key
is shown in SendGrid's settings as base64 DER (SubjectPublicKeyInfo). Correlation: the
`X-SMTPAPI` unique argument `invoicebot_delivery` comes back as a top-level event field.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from services.email.message import PROVIDER_METADATA_KEY
from services.tracking.event_types import IncomingEvent
from services.tracking.webhooks.errors import WebhookAuthError, WebhookFormatError
from services.tracking.webhooks.fields import as_object, load_json, optional_text, text, unix_time
from services.tracking.webhooks.freshness import check_fresh

SOURCE = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

# processed, click, unsubscribe, group_(un|re)subscribe: not about the email reaching its reader.
_TYPES = {"delivered": "delivered", "deferred": "deferred", "open": "opened", "spamreport": "complained"}


def verify(
    *,
    public_key: ec.EllipticCurvePublicKey,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
) -> None:
    """Raise WebhookAuthError unless SendGrid signed exactly this body within 5 minutes."""
    if not signature or not timestamp:
        raise WebhookAuthError("The SendGrid webhook is not signed.")
    try:
        der_signature = base64.b64decode(signature.strip(), validate=True)
        public_key.verify(der_signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise WebhookAuthError("The SendGrid webhook's signature does not match its body.") from exc
    check_fresh(timestamp, now=now, provider="SendGrid")


def _event(item: dict[str, Any]) -> IncomingEvent | None:
    kind = text(item, "event", "SendGrid event")
    if kind == "bounce":
        # `type` is "bounce" (permanent) or "blocked" (the receiver refused for now).
        event_type, bounce_kind = "bounced", "soft" if item.get("type") == "blocked" else "hard"
    elif kind == "dropped":
        event_type, bounce_kind = "dropped", None
    elif kind in _TYPES:
        event_type, bounce_kind = _TYPES[kind], None
    else:
        return None
    smtp_id = optional_text(item, "smtp-id")
    diagnostic = optional_text(item, "reason") or optional_text(item, "response")
    return IncomingEvent(
        source=SOURCE,
        type=event_type,
        recipient=text(item, "email", "SendGrid event"),
        occurred_at=unix_time(item.get("timestamp"), "SendGrid event timestamp"),
        source_event_id=text(item, "sg_event_id", "SendGrid event"),
        bounce_kind=bounce_kind,
        status_code=optional_text(item, "status"),
        diagnostic=diagnostic,
        raw=json.dumps(item, ensure_ascii=False, sort_keys=True),
        verp_token=optional_text(item, PROVIDER_METADATA_KEY),
        message_id=smtp_id,
        envid=None,
    )


def parse(body: bytes) -> list[IncomingEvent]:
    """Every followed event of the batch, in order; unfollowed kinds are skipped."""
    items = load_json(body, "SendGrid")
    if not isinstance(items, list):
        raise WebhookFormatError("The SendGrid webhook body is not a JSON array of events.")
    events = [_event(as_object(item, "SendGrid event")) for item in items]
    return [event for event in events if event is not None]
