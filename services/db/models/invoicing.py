"""Tables of the invoicing context: the organisation, its customers, invoices and their lines."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.clock import utcnow
from services.db.models.base import Base, new_public_token
from services.db.models.statuses import (
    UNSENT_PREDICATE,
    DocumentKind,
    InvoiceStatus,
    SentVia,
    SmtpStatus,
)
from services.db.stored_enum import StoredEnum
from services.postal_address import MAX_CITY, MAX_POSTAL_CODE, MAX_STREET, MAX_SUBDIVISION


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
    # The bank account's holder as the bank knows it; empty: the legal name (`name`).
    account_holder: Mapped[str] = mapped_column(String(200), default="", server_default="")
    smtp_status: Mapped[SmtpStatus] = mapped_column(StoredEnum(SmtpStatus, 16), default=SmtpStatus.UNVERIFIED)
    smtp_status_reason: Mapped[str | None] = mapped_column(Text)
    smtp_checked_at: Mapped[datetime | None]
    # Whether the server offered SMTPUTF8 at the last successful check; None = never checked.
    smtp_utf8: Mapped[bool | None]
    # Why the worker sends nothing for this organisation (its workspace uninstalled the app or
    # revoked its token); None: sending as usual. Queued emails wait, they are not failed.
    sending_paused: Mapped[str | None] = mapped_column(String(500))
    # Bumped with every change of the organisation's settings (services.invoicing.settings_store):
    # each process compares it with the version it caches, so a change reaches every process.
    settings_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrganisationSettingsRow(Base):
    """What an admin decides for the organisation (roles, policy, channels, sender, defaults).

    The legal details (name, address, VAT number, country, language) and the From / Reply-To
    addresses stay on `Organisation`, which the documents already read; this row holds the
    rest. Roles list Slack user ids (U…, W…) and user-group ids (S…); `group_members` is each
    listed group's members as Slack answered when the settings were saved.
    """

    __tablename__ = "organisation_settings"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    senders: Mapped[list[str]] = mapped_column(default=list)
    approvers: Mapped[list[str]] = mapped_column(default=list)
    admins: Mapped[list[str]] = mapped_column(default=list)
    group_members: Mapped[dict[str, Any]] = mapped_column(default=dict)
    approval_policy: Mapped[str] = mapped_column(String(16), default="never")
    approval_threshold: Mapped[Decimal] = mapped_column(default=Decimal(0))
    approve_new_recipients: Mapped[bool] = mapped_column(default=False, server_default=false())
    notify_channel: Mapped[str | None] = mapped_column(String(32))
    approvers_channel: Mapped[str | None] = mapped_column(String(32))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    bounce_domain: Mapped[str | None] = mapped_column(String(253))
    default_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    cc: Mapped[list[str]] = mapped_column(default=list)  # the organisation's own copies of every send
    bcc: Mapped[list[str]] = mapped_column(default=list)
    # Silent-email alert (services/tracking/silent.py): hours without news per delivery route; 0 = off.
    silent_after_provider_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    silent_after_smtp_hours: Mapped[int] = mapped_column(Integer, default=72, server_default="72")
    # The organisation's time zone (IANA name): what "today" and a set hour mean for it.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    digest_hour: Mapped[int | None] = mapped_column(Integer)  # None: no daily digest
    weekly_summary_day: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # 0 = Monday
    # When scheduled mail (autosend, reminders) may leave: services/invoicing/send_window.py
    send_window: Mapped[str] = mapped_column(
        String(64), default="Mon-Fri 09:00-17:00", server_default="Mon-Fri 09:00-17:00"
    )
    holiday_country: Mapped[str] = mapped_column(String(2), default="", server_default="")
    # Minutes before the window opens that the channel hears what will go out (0: as soon as it is queued)
    preview_lead: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    autosend: Mapped[bool] = mapped_column(default=False, server_default=false())  # customers follow it by default
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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
    autosend: Mapped[bool | None]  # None: the organisation's setting; True/False: this customer's choice
    # The preset email text (services.email.email_texts) the review modal starts with; None: Standard.
    default_email_text: Mapped[str | None] = mapped_column(String(60))
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
        # App Home's *Due today and overdue* (services.home_dashboard): covers the sums by age and currency.
        Index("ix_invoices_owed", "organisation_id", "status", "kind", "due_date", "currency", "total"),
        Index("ix_invoices_org_total", "organisation_id", "total"),  # `/invoices find` by amount
        Index("ix_invoices_corrects", "corrects_invoice_id"),
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
    # False: the notes are internal, never shown to the customer (link page, PDF, UBL).
    notes_visible: Mapped[bool] = mapped_column(default=True, server_default=true())
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
    # A credit note is a row of its own kind, so it is listed, sent and tracked like an invoice;
    # its amounts are positive and it reduces the balance of the invoice it corrects
    # (services.invoicing.payments.balance_of).
    kind: Mapped[DocumentKind] = mapped_column(
        StoredEnum(DocumentKind, 16), default=DocumentKind.INVOICE, server_default=DocumentKind.INVOICE.value
    )
    corrects_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    credit_reason: Mapped[str | None] = mapped_column(Text)
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
    # A note printed under the line; `note_visible` False keeps it internal (never shown to the customer).
    note: Mapped[str | None] = mapped_column(Text)
    note_visible: Mapped[bool] = mapped_column(default=True, server_default=true())

    invoice: Mapped[Invoice] = relationship(back_populates="lines", lazy="raise")


PAYMENT_REFERENCE_LENGTH = 140  # a SEPA remittance line


class PaymentSource(StrEnum):
    SLACK = "slack"
    CLI = "cli"
    IMPORT = "import"


class Payment(Base):
    """Money received against an invoice, in the invoice's currency (services.invoicing.payments).

    `idempotency_key` is set for imported lines only: the same bank line imported twice is one payment.
    """

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("organisation_id", "idempotency_key", name="uq_payments_org_idempotency_key"),
        Index("ix_payments_invoice", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    amount: Mapped[Decimal]
    paid_on: Mapped[date]
    reference: Mapped[str] = mapped_column(String(PAYMENT_REFERENCE_LENGTH), default="")
    source: Mapped[PaymentSource] = mapped_column(StoredEnum(PaymentSource, 16))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(300))
