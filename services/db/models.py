"""The database, as typed SQLAlchemy 2 models. Every row belongs to an organisation.

Names follow ../shared/DESIGN.md: invoice, customer, delivery, delivery event,
suppression, approval, notification, audit log. Money is `Decimal` end to end (see
`Money`); times are timezone-aware UTC.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from services.db.stored_enum import StoredEnum
from services.postal_address import MAX_CITY, MAX_POSTAL_CODE, MAX_STREET, MAX_SUBDIVISION

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_token() -> str:
    """A 256-bit random, URL-safe token for the invoice link page."""
    return secrets.token_urlsafe(32)


class Money(TypeDecorator[Decimal]):
    """Decimal in the database: NUMERIC on PostgreSQL, exact text on SQLite.

    SQLite has no decimal type; NUMERIC there silently becomes a float. Text keeps the
    exact value and sorting by amount is not something any query here needs.
    """

    impl = Numeric(18, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)) if not isinstance(value, Decimal) else value


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's documented class attribute
        datetime: UtcDateTime(),
        Decimal: Money(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }
    if TYPE_CHECKING:
        # Every model maps one plain table, which the Core write paths (bulk inserts, batched
        # updates) use directly; SQLAlchemy types it as the wider FromClause.
        __table__: ClassVar[Table]


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    VALIDATED = "validated"
    SENT = "sent"
    PAID = "paid"
    VOID = "void"


class SentVia(StrEnum):
    EMAIL = "email"
    MANUAL = "manual"


class SmtpStatus(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    OPENED = "opened"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    COMPLAINED = "complained"
    FAILED = "failed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


class DeliveryKind(StrEnum):
    INVOICE = "invoice"
    PREVIEW = "preview"


class Attachments(StrEnum):
    PDF = "pdf"
    UBL = "ubl"
    PDF_UBL = "pdf+ubl"
    NONE = "none"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    FAILED = "failed"


class ApprovalDecision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


# The one literal predicate of "not sent yet". It is written as SQL text, not bound
# parameters, because SQLite's planner only uses a partial index when the query repeats
# the index's condition literally (../shared/FACTS.md, "Databases").
UNSENT_PREDICATE = "status IN ('draft', 'validated')"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slack_team_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The postal address in parts (services.postal_address); `country` below is its country.
    street: Mapped[str] = mapped_column(String(MAX_STREET), default="", server_default="")
    additional: Mapped[str] = mapped_column(String(MAX_STREET), default="", server_default="")
    city: Mapped[str] = mapped_column(String(MAX_CITY), default="", server_default="")
    postal_code: Mapped[str] = mapped_column(String(MAX_POSTAL_CODE), default="", server_default="")
    subdivision: Mapped[str] = mapped_column(String(MAX_SUBDIVISION), default="", server_default="")
    tax_id: Mapped[str] = mapped_column(String(64), default="")
    country: Mapped[str] = mapped_column(String(2), default="GB")
    default_language: Mapped[str] = mapped_column(String(8), default="en")
    sender_email: Mapped[str] = mapped_column(String(320), default="")
    reply_to: Mapped[str | None] = mapped_column(String(320))
    iban: Mapped[str | None] = mapped_column(String(64))
    bic: Mapped[str | None] = mapped_column(String(16))
    smtp_status: Mapped[SmtpStatus] = mapped_column(StoredEnum(SmtpStatus, 16), default=SmtpStatus.UNVERIFIED)
    smtp_status_reason: Mapped[str | None] = mapped_column(Text)
    smtp_checked_at: Mapped[datetime | None]
    # Whether the server offered SMTPUTF8 at the last successful check; None = never checked.
    smtp_utf8: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("organisation_id", "ref", name="uq_customers_org_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    ref: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # The postal address in parts (services.postal_address); `country` below is its country.
    street: Mapped[str] = mapped_column(String(MAX_STREET), default="", server_default="")
    additional: Mapped[str] = mapped_column(String(MAX_STREET), default="", server_default="")
    city: Mapped[str] = mapped_column(String(MAX_CITY), default="", server_default="")
    postal_code: Mapped[str] = mapped_column(String(MAX_POSTAL_CODE), default="", server_default="")
    subdivision: Mapped[str] = mapped_column(String(MAX_SUBDIVISION), default="", server_default="")
    country: Mapped[str | None] = mapped_column(String(2))
    tax_id: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    emails: Mapped[list[str]] = mapped_column(default=list)
    cc: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organisation_id", "number", name="uq_invoices_org_number"),
        # The due listing and its count read only this index (see UNSENT_PREDICATE).
        Index(
            "ix_invoices_due_unsent",
            "organisation_id",
            "due_date",
            "id",
            sqlite_where=text(UNSENT_PREDICATE),
            postgresql_where=text(UNSENT_PREDICATE),
        ),
        Index("ix_invoices_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    number: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    issue_date: Mapped[date]
    due_date: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[InvoiceStatus] = mapped_column(StoredEnum(InvoiceStatus, 16), default=InvoiceStatus.DRAFT)
    subtotal: Mapped[Decimal]
    tax_total: Mapped[Decimal]
    total: Mapped[Decimal]
    # None: send to the customer's emails. A list: this invoice's own recipients.
    recipient_emails: Mapped[list[str] | None] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)
    purchase_order: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    sent_via: Mapped[SentVia | None] = mapped_column(StoredEnum(SentVia, 16))
    sent_by: Mapped[str | None] = mapped_column(String(64))
    validated_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    public_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_public_token)
    token_revoked_at: Mapped[datetime | None]
    autosend: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(lazy="raise")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice",
        order_by="InvoiceLine.position",
        cascade="all, delete-orphan",
        lazy="raise",
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal]
    unit_price: Mapped[Decimal]
    tax_rate: Mapped[Decimal]  # percent, e.g. 20 for 20 %
    net_amount: Mapped[Decimal]  # quantity × unit price, rounded to the currency

    invoice: Mapped[Invoice] = relationship(back_populates="lines", lazy="raise")


class Delivery(Base):
    """One email of one invoice (or a preview to a staff member). The row *is* the send job."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_queue", "status", "next_attempt_at"),
        Index("ix_deliveries_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[DeliveryKind] = mapped_column(StoredEnum(DeliveryKind, 16), default=DeliveryKind.INVOICE)
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


class Notification(Base):
    """A Slack post still owed. Written with the state change; a loop posts it."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_pending", "status", "next_attempt_at"),
        # A delivery's waiting status message is looked up on every event (coalescing).
        Index("ix_notifications_delivery", "delivery_id", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[NotificationStatus] = mapped_column(
        StoredEnum(NotificationStatus, 16), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    posted_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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


class AuditLog(Base):
    """Who did what, from which Slack user (or `cli`), when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TemplateOverride(Base):
    """An organisation's own wording for one email template part in one language."""

    __tablename__ = "template_overrides"
    __table_args__ = (
        UniqueConstraint("organisation_id", "language", "part", name="uq_template_overrides_org_lang_part"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    language: Mapped[str] = mapped_column(String(8))
    part: Mapped[str] = mapped_column(String(16))  # subject, text, html
    source: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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


class LoopHeartbeat(Base):
    """The last report of one background loop of one process (e.g. an `invoicebot worker`).

    A process that serves no HTTP writes its loops' verdicts here every few seconds (never
    per delivery), so the web process's `/healthz` and `/metrics` can speak for it: a loop
    reported stalled, or a report older than the stall window (the process died or hangs),
    turns them red. Keyed by process name and loop name; a process deletes its rows when it
    stops cleanly. Not an organisation's data: it describes the installation.
    """

    __tablename__ = "loop_heartbeats"

    process: Mapped[str] = mapped_column(String(200), primary_key=True)
    loop: Mapped[str] = mapped_column(String(100), primary_key=True)
    healthy: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(Text)
    seconds_since_progress: Mapped[float] = mapped_column(Float)
    reported_at: Mapped[datetime]
