"""Replay protection for signed webhooks: a signature is only good for a few minutes.

SendGrid and Mailgun sign a timestamp with the body; an attacker who captured one request
could send it again later. Refusing timestamps more than five minutes away from our clock
(either way) bounds that window; the provider's event id then deduplicates within it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.webhooks.errors import WebhookAuthError, WebhookFormatError
from services.webhooks.fields import unix_time

MAX_CLOCK_SKEW = timedelta(minutes=5)


def check_fresh(timestamp: object, *, now: datetime, provider: str) -> None:
    """Raise WebhookAuthError when the signed timestamp is missing or over 5 minutes off."""
    try:
        signed_at = unix_time(timestamp, "signature timestamp")
    except WebhookFormatError as exc:
        raise WebhookAuthError(f"The {provider} webhook has no valid signature timestamp.") from exc
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise WebhookAuthError(
            f"The {provider} webhook was signed at {signed_at:%Y-%m-%d %H:%M:%S} UTC, more than "
            f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes from now: refused as a possible replay."
        )
