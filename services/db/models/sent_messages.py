"""The emails as sent: each message's packed recipe, and the blobs (attachments, PDF fonts) it uses,
stored once by SHA-256 (services.email.stored_form says how a message is packed and rebuilt)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from services.db.models.base import Base


class SentMessage(Base):
    """The bytes one delivery handed to the mail server, packed; written with its accepted outcome."""

    __tablename__ = "sent_messages"
    __table_args__ = (Index("ix_sent_messages_sent_at", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    sent_at: Mapped[datetime]
    size: Mapped[int] = mapped_column(Integer)  # bytes handed to the server
    skeleton: Mapped[bytes] = mapped_column(LargeBinary)


class SentBlob(Base):
    """A packed blob, keyed by the SHA-256 of its content; `last_used_at` is bumped by every
    message that uses it, so a purge never takes a blob a message being written still needs."""

    __tablename__ = "sent_blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    last_used_at: Mapped[datetime]


class SentMessageBlob(Base):
    """Which blobs a message uses (directly or through another blob): what a purge looks at."""

    __tablename__ = "sent_message_blobs"
    __table_args__ = (Index("ix_sent_message_blobs_digest", "digest"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("sent_messages.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)


class StoredFile(Base):
    """An extra attachment's bytes as uploaded (issue 16), keyed by the SHA-256 of its content: the
    same file attached twice is stored once, and a retry or resend attaches exactly these bytes."""

    __tablename__ = "stored_files"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(128))  # decided from the content's magic bytes


class DeliveryAttachment(Base):
    """An extra file a delivery carries after its PDF/UBL, under the name the person gave it."""

    __tablename__ = "delivery_attachments"

    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # the order they were picked in
    digest: Mapped[str] = mapped_column(ForeignKey("stored_files.digest"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
