"""Tables of the shared kernel: Slack posts still owed, the audit log, edited email templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.clock import utcnow
from services.db.models.base import Base
from services.db.models.statuses import (
    NotificationStatus,
)
from services.db.stored_enum import StoredEnum


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


class AuditLog(Base):
    """Who did what, from which Slack user (or `cli`), when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject", "subject_type", "subject_id"),
        # the hash chain (services/audit_chain.py): one place per entry per organisation
        Index("ix_audit_log_chain", "organisation_id", "chain_index", unique=True),
        # the sealing step finds what is not chained yet without reading the sealed entries
        Index(
            "ix_audit_log_unsealed",
            "id",
            postgresql_where=text("chain_index IS NULL"),
            sqlite_where=text("chain_index IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the sealing step only, never by a writer: NULL until the entry is chained.
    chain_index: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    entry_hash: Mapped[str | None] = mapped_column(String(64))


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


class EmailText(Base):
    """A named preset email text (subject + message templates) in one language, chosen in the review modal.

    The built-in "Standard" text is not a row: it is the language's template (ours, or the
    organisation's `TemplateOverride`). Sources are checked like template overrides when saved.
    """

    __tablename__ = "email_texts"
    __table_args__ = (UniqueConstraint("organisation_id", "name", "language", name="uq_email_texts_org_name_lang"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(60))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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


class HomeViewer(Base):
    """Who has App Home open in an organisation, and when they last opened it (handlers/home.py).

    Written on every `app_home_opened` by whichever web process served it; read by whichever
    process's notifier made a post that changes Home, to republish those viewers (bot/home_refresh.py).
    """

    __tablename__ = "home_viewers"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_home_viewers_org_opened", "organisation_id", "opened_at"),)


class HomeChange(Base):
    """An organisation's App Homes are owed a republish: one row per committed state change.

    Written in the change's own transaction (services/unit_of_work.py, beside its audit entries),
    so a change committed by any process — a CLI without a refresher included — is seen by the
    refresher of whichever web or worker process reads it next (services/home_changes.py), which
    deletes the rows it read. Inserts only and no foreign key: writers never wait on each other.
    """

    __tablename__ = "home_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
