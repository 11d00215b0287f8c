"""Tables of the tracking context: events about an email, suppressed addresses, revoked
invoice links, webhook receipts (replay protection).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.clock import utcnow
from services.db.models.base import Base


class DeliveryEvent(Base):
    """Something that happened to a delivery, from any source. `delivery_id` None = orphan."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        UniqueConstraint("source", "source_event_id", name="uq_delivery_events_source_event"),
        Index("ix_delivery_events_delivery", "delivery_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    source: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(24))
    recipient: Mapped[str | None] = mapped_column(String(320))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_event_id: Mapped[str | None] = mapped_column(String(255))
    raw: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """An address not to send to without an explicit override (hard bounce, complaint)."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("organisation_id", "email", name="uq_suppressions_org_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    reason: Mapped[str] = mapped_column(String(32))  # hard_bounce, complaint, soft_bounces, manual
    detail: Mapped[str | None] = mapped_column(Text)
    soft_bounce_count: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(64))


class RevokedInvoiceLink(Base):
    """An invoice link someone withdrew: its token's SHA-256 (never the token), so it answers 410, not 404."""

    __tablename__ = "revoked_invoice_links"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    revoked_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookReceipt(Base):
    """A signed webhook token or provider event id seen lately, and a digest of what it vouched for.

    Kept while the signature could still be accepted (`expires_at`), so a captured request
    replayed with other data is recognised (services/tracking/webhooks/replay.py); purged after.
    Keys and digests are SHA-256 hex: nothing a stranger sent is stored as text.
    """

    __tablename__ = "webhook_receipts"
    __table_args__ = (
        UniqueConstraint("provider", "key", name="uq_webhook_receipts_provider_key"),
        Index("ix_webhook_receipts_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
