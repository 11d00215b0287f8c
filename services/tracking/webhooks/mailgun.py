"""Mailgun webhooks: `{"signature": {timestamp, token, signature}, "event-data": {...}}`.

Mailgun signs `timestamp + token` with HMAC-SHA256 under the account's webhook signing
key (hex digest in `signature.signature`). The signature does not cover `event-data`, which
is why the timestamp must be fresh and the event id deduplicated. Correlation: the
`X-Mailgun-Variables` we send come back as `event-data["user-variables"]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from services.email.message import PROVIDER_METADATA_KEY
from services.tracking.event_types import IncomingEvent
from services.tracking.webhooks.errors import WebhookAuthError
from services.tracking.webhooks.fields import as_object, load_json, optional_text, text, unix_time
from services.tracking.webhooks.freshness import Receipt, check_fresh

SOURCE = "mailgun"

# A permanent failure for these reasons means Mailgun never tried: the address was suppressed.
_SUPPRESSED = frozenset({"suppress-bounce", "suppress-complaint", "suppress-unsubscribe", "old"})


def load_payload(body: bytes) -> dict[str, Any]:
    """The decoded body (the signature travels inside it); WebhookFormatError if not a JSON object."""
    return as_object(load_json(body, "Mailgun"), "Mailgun webhook")


def verify(*, payload: dict[str, Any], signing_key: str, now: datetime) -> None:
    """Raise WebhookAuthError unless Mailgun signed this request within 5 minutes."""
    signature = payload.get("signature")
    if not isinstance(signature, dict):
        raise WebhookAuthError("The Mailgun webhook is not signed.")
    timestamp, token, given = (signature.get(key) for key in ("timestamp", "token", "signature"))
    if not all(isinstance(value, str | int) and not isinstance(value, bool) for value in (timestamp, token, given)):
        raise WebhookAuthError("The Mailgun webhook's signature is incomplete.")
    if not all(str(value).isascii() for value in (timestamp, token, given)):
        raise WebhookAuthError("The Mailgun webhook's signature is malformed.")
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(given).strip().lower()):
        raise WebhookAuthError("The Mailgun webhook's signature does not match.")
    check_fresh(timestamp, now=now, provider="Mailgun")


def token_receipt(payload: dict[str, Any]) -> Receipt:
    """The verified signature's token, vouching for this event data (which it does not sign)."""
    token = str(payload["signature"]["token"])
    return Receipt.of("token", token, json.dumps(payload.get("event-data"), ensure_ascii=False, sort_keys=True))


def _classify(data: dict[str, Any]) -> tuple[str, str | None] | None:
    kind = text(data, "event", "Mailgun event")
    if kind == "failed":
        if data.get("severity") == "temporary":
            return "deferred", None
        if data.get("reason") in _SUPPRESSED:
            return "dropped", None
        return "bounced", "hard"
    # accepted, clicked, unsubscribed, stored: not about the email reaching its reader.
    return {"delivered": ("delivered", None), "opened": ("opened", None), "complained": ("complained", None),
            "rejected": ("dropped", None)}.get(kind)  # fmt: skip


def parse(payload: dict[str, Any]) -> list[IncomingEvent]:
    """The event of one verified Mailgun request (empty when its kind is not followed)."""
    data = as_object(payload.get("event-data"), "Mailgun event-data")
    classified = _classify(data)
    if classified is None:
        return []
    event_type, bounce_kind = classified
    status = data.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    variables = data.get("user-variables")
    diagnostic = (
        optional_text(status, "description") or optional_text(status, "message") or optional_text(data, "reason")
    )
    message_id = optional_text(headers, "message-id") if isinstance(headers, dict) else None
    return [
        IncomingEvent(
            source=SOURCE,
            type=event_type,
            recipient=text(data, "recipient", "Mailgun event"),
            occurred_at=unix_time(data.get("timestamp"), "Mailgun event timestamp"),
            source_event_id=text(data, "id", "Mailgun event"),
            bounce_kind=bounce_kind,
            status_code=optional_text(status, "enhanced-code") or optional_text(status, "code"),
            diagnostic=diagnostic or optional_text(data, "reason"),
            raw=json.dumps(data, ensure_ascii=False, sort_keys=True),
            verp_token=optional_text(variables, PROVIDER_METADATA_KEY) if isinstance(variables, dict) else None,
            message_id=f"<{message_id.strip('<>')}>" if message_id else None,
            envid=None,
        )
    ]
