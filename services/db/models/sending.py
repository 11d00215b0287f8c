"""Tables of the sending context: a delivery (the send job itself), its approval, the UBL verdicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.clock import utcnow
from services.db.models.base import Base
from services.db.models.statuses import (
    ApprovalDecision,
    Attachments,
    DeliveryKind,
    DeliveryStatus,
)
from services.db.stored_enum import StoredEnum


class Delivery(Base):
    """One email of one invoice (or a preview to a staff member). The row *is* the send job."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_queue", "status", "next_attempt_at"),
        Index("ix_deliveries_invoice", "invoice_id"),
        # App Home (services.home_dashboard): sends in a status, oldest first; the newest sends.
        Index("ix_deliveries_org_status", "organisation_id", "status", "created_at"),
        Index("ix_deliveries_org_created", "organisation_id", "created_at", "id"),
        # Silent emails (alerted, few): lets the open-problems listing's OR use indexes, not a scan of every send.
        Index(
            "ix_deliveries_org_silent",
            "organisation_id",
            postgresql_where=text("silent_alerted_at IS NOT NULL"),
            sqlite_where=text("silent_alerted_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[DeliveryKind] = mapped_column(StoredEnum(DeliveryKind, 16), default=DeliveryKind.INVOICE)
    # A reminder's email (kind `reminder`): unique, so one produced reminder is at most one email.
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id"), unique=True)
    status: Mapped[DeliveryStatus] = mapped_column(StoredEnum(DeliveryStatus, 24), default=DeliveryStatus.QUEUED)
    to: Mapped[list[str]] = mapped_column("to_addresses", default=list)
    cc: Mapped[list[str]] = mapped_column(default=list)
    bcc: Mapped[list[str]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    attachments: Mapped[Attachments] = mapped_column(StoredEnum(Attachments, 16), default=Attachments.PDF)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    verp_token: Mapped[str] = mapped_column(String(64), unique=True)
    # A client-chosen key (e.g. the Slack view id) so a retried request creates nothing new.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    override_suppression: Mapped[bool] = mapped_column(default=False)
    # The review modal's "Show notes on the invoice page": this email's PDF and the link page follow it.
    show_notes: Mapped[bool] = mapped_column(default=True, server_default=true())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Set just before the message data is handed over: a worker that dies after this
    # point may have sent the email, so its delivery becomes `unknown`, never requeued.
    data_started_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    recipient_results: Mapped[dict[str, Any]] = mapped_column(default=dict)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
    # When the silent-email alert was owed (services/tracking/silent.py): set once, with the alert's row.
    silent_alerted_at: Mapped[datetime | None]


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    decision: Mapped[ApprovalDecision] = mapped_column(
        StoredEnum(ApprovalDecision, 16), default=ApprovalDecision.PENDING
    )
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DocumentValidation(Base):
    """The verdict of the UBL checks (UBL 2.1 XSD, EN 16931 schematron) on one e-invoice's content.

    Keyed by `services.sending.ubl_checks.ubl_digest`, a SHA-256 of the data the UBL is
    rendered from: a changed invoice, customer or language has another digest, so a verdict
    never has to be invalidated; the send worker only looks its digest up (cheap) and holds
    the delivery when the verdict failed. `failures` are the broken rules in words.
    """

    __tablename__ = "document_validations"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    ok: Mapped[bool]
    failures: Mapped[list[str]] = mapped_column(JSON)
    validated_at: Mapped[datetime]
