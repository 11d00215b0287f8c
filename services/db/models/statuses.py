"""The stored words for statuses and kinds: StrEnums whose values are what the rows hold."""

from __future__ import annotations

from enum import StrEnum


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    VALIDATED = "validated"
    SENT = "sent"
    PAID = "paid"
    VOID = "void"


class DocumentKind(StrEnum):
    """What an invoices row is: an invoice, or a credit note correcting one (`corrects_invoice_id`)."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


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
    """`invoice`: an invoice (or credit note) to its customer; `preview`: a copy to a staff member;
    `reminder`: a reminder listing one or more of a customer's open invoices (`Delivery.reminder_id`;
    `invoice_id` is the first invoice it lists, so every delivery still names an invoice)."""

    INVOICE = "invoice"
    PREVIEW = "preview"
    REMINDER = "reminder"


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
