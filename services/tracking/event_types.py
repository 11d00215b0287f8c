"""What an event about an email is, in invoicebot's words: `IncomingEvent`, its sources and types.

A leaf module on purpose. Every source (DSN, provider webhooks, the pixel, the link page)
builds `IncomingEvent`s and services.tracking.events files them; keeping the type here,
away from the code that writes to the database, lets the pure parsers (webhooks/*, dsn,
bounces) be imported without SQLAlchemy, and breaks the import cycle between
services.tracking.events and services.tracking.filing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SOURCES = frozenset({"smtp", "dsn", "postmark", "sendgrid", "mailgun", "ses", "pixel", "link"})
TYPES = frozenset(
    {"accepted", "delivered", "deferred", "bounced", "dropped", "complained", "opened", "viewed", "failed", "unknown"}
)
UNPARSED = "unparsed"


@dataclass(frozen=True)
class IncomingEvent:
    """One event from any source, mapped onto invoicebot's words. `raw` is kept for audit."""

    source: str
    type: str
    recipient: str | None
    occurred_at: datetime
    source_event_id: str | None
    raw: str
    bounce_kind: str | None = None  # hard | soft, for bounces
    status_code: str | None = None  # x.y.z
    diagnostic: str | None = None
    verp_token: str | None = None
    message_id: str | None = None
    envid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific detail for the timeline

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown event source {self.source!r}")
        if self.type not in TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
