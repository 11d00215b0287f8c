"""Tables of reminders (issue 14): ladders as data, the stop-rule state, and the reminders produced.

A ladder is a set of steps, each a day offset from the due date with a tone and an optional fee
line. Rows with `customer_id` NULL are the organisation's default ladder (none stored: the built-in
default, services.reminders.ladder.DEFAULT_LADDER); rows with a customer id replace it wholly for
that customer. The stop rules that people set live beside the invoice and the customer, not on
them, so the invoicing tables stay as they are. `reminders` plus `reminder_invoices` are what the
scheduler produced: the unique key on (invoice, step) is what makes producing exactly-once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from services.clock import utcnow
from services.db.models.base import Base
from services.db.stored_enum import StoredEnum


class ReminderTone(StrEnum):
    """How firm a step's words are, from the gentlest; templates are chosen by it (services/reminders/content.py)."""

    FRIENDLY = "friendly"
    NEUTRAL = "neutral"
    FIRM = "firm"


class ReminderState(StrEnum):
    """Where a produced reminder is: owed, turned into its email, or not going out.

    `queued`: owed to the customer, no email yet (dispatching picks it up in the send window);
    `sent`: its one delivery exists (set in the transaction that writes it), so every minute's
    queries over owed reminders read only the few still owed, not every reminder ever made;
    `skipped`: missed by too much, stopped, or could not go, kept with its note.
    """

    QUEUED = "queued"
    SENT = "sent"
    SKIPPED = "skipped"


NOT_SKIPPED = text("state <> 'skipped'")  # the rows of the one-email-per-customer-step-day index


class ReminderStep(Base):
    """One step of a ladder: `customer_id` NULL for the organisation's default ladder."""

    __tablename__ = "reminder_steps"
    __table_args__ = (
        UniqueConstraint("organisation_id", "customer_id", "offset_days", name="uq_reminder_steps_ladder_offset"),
        Index("ix_reminder_steps_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    offset_days: Mapped[int] = mapped_column(Integer)  # days after the due date; negative: before it
    tone: Mapped[ReminderTone] = mapped_column(StoredEnum(ReminderTone, 16))
    fee: Mapped[Decimal | None]  # a fixed fee line printed on the reminder; None: no fee line


class InvoiceReminderState(Base):
    """What people said about reminding one invoice: disputed, promised to pay, reminders on or off.

    `reminders_on` None means the rule decides (on, except for an invoice marked as sent manually);
    True or False is a person's explicit choice.
    """

    __tablename__ = "invoice_reminder_states"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    disputed_reason: Mapped[str | None] = mapped_column(Text)
    disputed_by: Mapped[str | None] = mapped_column(String(64))
    disputed_at: Mapped[datetime | None]
    promised_until: Mapped[date | None]
    reminders_on: Mapped[bool | None]
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerReminderState(Base):
    """A customer's reminders paused until a date (inclusive); they resume by themselves the day after."""

    __tablename__ = "customer_reminder_states"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    paused_until: Mapped[date | None]
    paused_by: Mapped[str] = mapped_column(String(64), default="")
    paused_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Reminder(Base):
    """One reminder produced for a customer and a step on one day (`cohort`, the organisation's local date).

    The hand-off to sending: a queued row is a reminder email owed (services/reminders/produce.py).
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint(
            "organisation_id", "customer_id", "step_offset", "cohort", "state", name="uq_reminders_customer_step_cohort"
        ),
        Index("ix_reminders_org_state", "organisation_id", "state", "id"),
        # One owed-or-emailed reminder per customer, step and day: a dispatched (`sent`) row keeps
        # the day's place the `queued` one held, so no second email for the step goes out that day.
        Index(
            "uq_reminders_one_email",
            "organisation_id",
            "customer_id",
            "step_offset",
            "cohort",
            unique=True,
            sqlite_where=NOT_SKIPPED,
            postgresql_where=NOT_SKIPPED,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    step_offset: Mapped[int] = mapped_column(Integer)
    tone: Mapped[ReminderTone] = mapped_column(StoredEnum(ReminderTone, 16))
    fee: Mapped[Decimal | None]
    cohort: Mapped[date]
    state: Mapped[ReminderState] = mapped_column(StoredEnum(ReminderState, 16))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderInvoice(Base):
    """An invoice a reminder lists; unique per (invoice, step): no invoice is ever reminded twice for one step."""

    __tablename__ = "reminder_invoices"
    __table_args__ = (UniqueConstraint("invoice_id", "step_offset", name="uq_reminder_invoices_invoice_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    step_offset: Mapped[int] = mapped_column(Integer)
