"""The emails as sent: stored with the outcome that recorded them, read back byte for byte, purged.

`store_sent_messages` runs inside the send worker's group commit (`outcomes.record_outcomes`):
a round of outcomes writes its messages in a handful of statements, whatever its size — the
blobs it needs that are not stored yet, a touch of the ones that are, the messages and their
links. `sent_message_view` is what `/invoices show` shows; `read_sent_message` is the .eml
staff download; `purge_sent_messages` deletes the messages older than the retention and the
blobs no message uses any more, and with them the extra attachments (issue 16) of the
deliveries that finished before the retention: their links, then every stored file no delivery
carries. A file another request links at that very moment makes its transaction or the purge
fail on the foreign key (the purge is retried next hour): nothing is deleted that is in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import Delivery, DeliveryAttachment, SentBlob, SentMessage, SentMessageBlob, StoredFile
from services.email.stored_form import PackedMessage, rebuild
from services.errors import NotFound
from services.tracking.links import LINK_NOT_FOUND, check_signed_token, signed_token

DEFAULT_RETENTION_DAYS = 400
BLOB_GRACE = timedelta(hours=1)  # a blob touched this recently is never purged (a send may be using it)
_BLOBS = SentBlob.__table__
_MESSAGES = SentMessage.__table__
_LINKS = SentMessageBlob.__table__
_DELIVERIES = Delivery.__table__
_FILE_LINKS = DeliveryAttachment.__table__
_FILES = StoredFile.__table__


@dataclass(frozen=True)
class SentItem:
    """One accepted message to keep: whose it is and its packed form."""

    organisation_id: int
    delivery_id: int
    packed: PackedMessage


def store_sent_messages(connection: Connection, *, items: Sequence[SentItem], now: datetime) -> None:
    """Write `items` in the caller's transaction (the worker's group commit round)."""
    if not items:
        return
    blobs: dict[str, bytes] = {}
    for item in items:
        blobs.update(item.packed.blobs)
    if blobs:
        # touch the stored ones first: the UPDATE locks them, so a purge running now skips them
        touched = update(_BLOBS).where(_BLOBS.c.digest.in_(sorted(blobs))).values(last_used_at=now)
        stored = set(connection.execute(touched.returning(_BLOBS.c.digest)).scalars())
        missing = [{"digest": d, "content": c, "last_used_at": now} for d, c in blobs.items() if d not in stored]
        if missing:  # another worker may insert the same blob meanwhile: its row is as good as ours
            connection.execute(_insert_new(connection), missing)
    # A delivery handed over again (ambiguous, then retried) keeps its latest message: the one
    # kept is always what the server last received for it (the unique delivery_id never fails the round).
    delivery_ids = [item.delivery_id for item in items]
    earlier = select(_MESSAGES.c.id).where(_MESSAGES.c.delivery_id.in_(delivery_ids)).scalar_subquery()
    connection.execute(delete(_LINKS).where(_LINKS.c.message_id.in_(earlier)))
    connection.execute(delete(_MESSAGES).where(_MESSAGES.c.delivery_id.in_(delivery_ids)))
    rows = [
        {
            "organisation_id": item.organisation_id,
            "delivery_id": item.delivery_id,
            "sent_at": now,
            "size": item.packed.size,
            "skeleton": item.packed.skeleton,
        }
        for item in items
    ]
    connection.execute(insert(_MESSAGES), rows)
    ids: dict[int, int] = dict(
        (row[0], row[1])
        for row in connection.execute(
            select(_MESSAGES.c.delivery_id, _MESSAGES.c.id).where(_MESSAGES.c.delivery_id.in_(delivery_ids))
        )
    )
    links = [
        {"message_id": ids[item.delivery_id], "digest": digest}
        for item in items
        for digest in sorted(item.packed.blobs)
    ]
    if links:
        connection.execute(insert(_LINKS), links)


def _insert_new(connection: Connection) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(_BLOBS).on_conflict_do_nothing(index_elements=["digest"])


async def read_sent_message(session: AsyncSession, *, organisation_id: int, delivery_id: int) -> bytes | None:
    """The exact bytes the delivery handed to the server, or None when none were kept (or purged)."""
    message = (
        await session.execute(
            select(SentMessage).where(
                SentMessage.delivery_id == delivery_id, SentMessage.organisation_id == organisation_id
            )
        )
    ).scalar_one_or_none()
    if message is None:
        return None
    blobs: dict[str, bytes] = dict(
        (row[0], row[1])
        for row in (
            await session.execute(
                select(SentBlob.digest, SentBlob.content)
                .join(SentMessageBlob, SentMessageBlob.digest == SentBlob.digest)
                .where(SentMessageBlob.message_id == message.id)
            )
        )
    )
    return rebuild(message.skeleton, blobs)


@dataclass(frozen=True)
class AttachmentInfo:
    name: str
    size: int


@dataclass(frozen=True)
class SentEmailView:
    """What a person sees of an email as sent."""

    delivery_id: int
    headers: tuple[tuple[str, str], ...]  # From, To, Cc, Subject, Date, Message-ID (those present)
    text: str
    attachments: tuple[AttachmentInfo, ...]
    size: int


SHOWN_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")


def view_of_message(delivery_id: int, data: bytes) -> SentEmailView:
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    headers = tuple((name, str(parsed[name])) for name in SHOWN_HEADERS if parsed[name] is not None)
    body = parsed.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    attachments = tuple(
        AttachmentInfo(part.get_filename() or "(unnamed)", len(part.get_payload(decode=True) or b""))
        for part in parsed.iter_attachments()
    )
    return SentEmailView(delivery_id, headers, str(text), attachments, len(data))


async def latest_sent_message(session: AsyncSession, *, organisation_id: int, invoice_id: int) -> SentEmailView | None:
    """The latest email of this invoice that was handed to the server and kept, as a person sees it."""
    delivery_id = (
        await session.execute(
            select(SentMessage.delivery_id)
            .join(Delivery, Delivery.id == SentMessage.delivery_id)
            .where(Delivery.invoice_id == invoice_id, SentMessage.organisation_id == organisation_id)
            .order_by(SentMessage.sent_at.desc(), SentMessage.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if delivery_id is None:
        return None
    return await sent_message_view(session, organisation_id=organisation_id, delivery_id=delivery_id)


async def sent_message_view(session: AsyncSession, *, organisation_id: int, delivery_id: int) -> SentEmailView | None:
    data = await read_sent_message(session, organisation_id=organisation_id, delivery_id=delivery_id)
    return None if data is None else view_of_message(delivery_id, data)


@dataclass(frozen=True)
class PurgeResult:
    messages: int
    blobs: int
    files: int = 0  # extra attachments no delivery within the retention carries any more


async def purge_sent_messages(
    sessions: async_sessionmaker[AsyncSession], *, as_of: datetime, retention_days: int
) -> PurgeResult:
    """Delete the messages sent more than `retention_days` before `as_of` (0: keep forever) and the
    extra attachments of the deliveries finished by then, then every blob no message uses and
    nobody touched within BLOB_GRACE. One transaction."""
    async with sessions() as session, session.begin():
        removed = files = 0
        if retention_days > 0:
            cutoff = as_of - timedelta(days=retention_days)
            old = select(_MESSAGES.c.id).where(_MESSAGES.c.sent_at < cutoff).scalar_subquery()
            await session.execute(delete(_LINKS).where(_LINKS.c.message_id.in_(old)))
            result: Any = await session.execute(delete(_MESSAGES).where(_MESSAGES.c.sent_at < cutoff))
            removed = int(result.rowcount or 0)
            files = await _purge_extra_files(session, cutoff)
        unused = ~exists().where(_LINKS.c.digest == _BLOBS.c.digest)
        blobs: Any = await session.execute(delete(_BLOBS).where(unused, _BLOBS.c.last_used_at < as_of - BLOB_GRACE))
        return PurgeResult(messages=removed, blobs=int(blobs.rowcount or 0), files=files)


async def _purge_extra_files(session: AsyncSession, cutoff: datetime) -> int:
    """Unlink the extra files of deliveries finished before `cutoff`, then delete the files nobody carries."""
    finished = select(_DELIVERIES.c.id).where(_DELIVERIES.c.finished_at < cutoff).scalar_subquery()
    await session.execute(delete(_FILE_LINKS).where(_FILE_LINKS.c.delivery_id.in_(finished)))
    carried = exists().where(_FILE_LINKS.c.digest == _FILES.c.digest)
    result: Any = await session.execute(delete(_FILES).where(~carried))
    return int(result.rowcount or 0)


EMAIL_AS_SENT = "email-as-sent"  # the purpose signed into a download link's token


def email_download_path(*, delivery_id: int, now: datetime, minutes: int, secret: bytes) -> str:
    """`/e/<token>.eml`: the staff's short-lived, signed link to download the email as sent."""
    token = signed_token(EMAIL_AS_SENT, delivery_id, expires_at=now + timedelta(minutes=minutes), secret=secret)
    return f"/e/{token}.eml"


async def downloaded_email(session: AsyncSession, *, token: str, now: datetime, secret: bytes) -> tuple[str, bytes]:
    """The file name and bytes a genuine, unexpired download link gives; `NotFound` / `PreviewExpired`
    otherwise (and `NotFound` once the email was purged)."""
    delivery_id = check_signed_token(EMAIL_AS_SENT, token, now=now, secret=secret)
    delivery = await session.get(Delivery, delivery_id)
    data = None
    if delivery is not None:
        data = await read_sent_message(session, organisation_id=delivery.organisation_id, delivery_id=delivery_id)
    if delivery is None or data is None:
        raise NotFound(LINK_NOT_FOUND)
    return f"email-{delivery_id}.eml", data
