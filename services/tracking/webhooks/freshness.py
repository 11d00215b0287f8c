"""The pure half of replay protection: a signed timestamp's window, and what a signature vouched for.

`check_fresh` refuses timestamps more than five minutes from our clock (either way);
`Receipt` is one thing a provider vouched for, with a digest of the data it vouched for.
services.tracking.webhooks.replay (`ReplayGuard`) stores receipts in the database; this
module stays free of database code so the provider parsers can use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.tracking.event_types import IncomingEvent
from services.tracking.webhooks.errors import WebhookAuthError, WebhookFormatError
from services.tracking.webhooks.fields import unix_time

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


@dataclass(frozen=True, slots=True)
class Receipt:
    """One thing a provider vouched for (a signature token, an event id) and for which data."""

    key: str
    digest: str

    @classmethod
    def of(cls, kind: str, value: str, data: str | bytes) -> Receipt:
        """`kind` ("token", "event") and `value` name it; `data` is what it must keep meaning."""
        raw = data.encode() if isinstance(data, str) else data
        return cls(
            key=hashlib.sha256(f"{kind}:{value}".encode()).hexdigest(),
            digest=hashlib.sha256(raw).hexdigest(),
        )


def receipts_for(events: Sequence[IncomingEvent]) -> list[Receipt]:
    """Every event id of a verified request, with the event as the provider described it."""
    return [
        Receipt.of("event", event.source_event_id, event.raw or "")
        for event in events
        if event.source_event_id is not None
    ]
