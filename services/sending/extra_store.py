"""Extra attachments stored with their delivery, content-addressed (issue 16).

The bytes live once in `stored_files` under their SHA-256; `delivery_attachments` says which
delivery carries which, under which name and in which order. So a retry renders exactly the
bytes that were checked, a fix-and-resend copies the rows (never the bytes), and the same file
picked for ten invoices is stored once. Everything is written in the caller's transaction: a
delivery and its files commit together or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.db.models import Delivery, DeliveryAttachment, StoredFile
from services.email.message import Attachment
from services.sending.extra_files import CheckedFile

_FILES = StoredFile.__table__
_LINKS = DeliveryAttachment.__table__


def _insert_new(connection: Connection) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(_FILES).on_conflict_do_nothing(index_elements=["digest"])


def _digest(file: CheckedFile) -> str:
    return hashlib.sha256(file.content).hexdigest()


def _store(connection: Connection, delivery_ids: Sequence[int], files: Sequence[CheckedFile]) -> None:
    rows = {_digest(f): {"content": f.content, "size": len(f.content), "media_type": f.media_type} for f in files}
    known = set(connection.execute(select(_FILES.c.digest).where(_FILES.c.digest.in_(sorted(rows)))).scalars())
    new = [{"digest": digest, **row} for digest, row in rows.items() if digest not in known]
    if new:  # a concurrent request may store the same file meanwhile: its row holds the same bytes
        connection.execute(_insert_new(connection), new)
    links = [
        {"delivery_id": delivery_id, "position": position, "digest": _digest(f),
         "filename": f.filename}
        for delivery_id in delivery_ids
        for position, f in enumerate(files)
    ]  # fmt: skip
    connection.execute(insert(_LINKS), links)


async def store_extra_files(
    session: AsyncSession, *, delivery_ids: Sequence[int], files: Sequence[CheckedFile]
) -> None:
    """Attach `files` (checked) to each of `delivery_ids` (a delivery and its preview), in the caller's transaction."""
    if files and delivery_ids:
        await session.run_sync(lambda sync: _store(sync.connection(), delivery_ids, files))


async def extra_files_of(session: AsyncSession, *, organisation_id: int, delivery_id: int) -> tuple[CheckedFile, ...]:
    """The extra files an earlier delivery of the organisation carried, in order (a resend attaches these bytes)."""
    rows = await session.execute(
        select(DeliveryAttachment.filename, StoredFile.content, StoredFile.media_type)
        .join(StoredFile, StoredFile.digest == DeliveryAttachment.digest)
        .join(Delivery, Delivery.id == DeliveryAttachment.delivery_id)
        .where(DeliveryAttachment.delivery_id == delivery_id, Delivery.organisation_id == organisation_id)
        .order_by(DeliveryAttachment.position)
    )
    return tuple(CheckedFile(name, content, media_type) for name, content, media_type in rows)


def read_extra_attachments(session: Session, delivery_ids: Sequence[int]) -> dict[int, tuple[Attachment, ...]]:
    """Each delivery's extra files as email attachments, in order; a delivery without any is absent."""
    found: dict[int, list[Attachment]] = {}
    if not delivery_ids:
        return {}
    rows = session.execute(
        select(DeliveryAttachment.delivery_id, DeliveryAttachment.filename, StoredFile.content, StoredFile.media_type)
        .join(StoredFile, StoredFile.digest == DeliveryAttachment.digest)
        .where(DeliveryAttachment.delivery_id.in_(delivery_ids))
        .order_by(DeliveryAttachment.delivery_id, DeliveryAttachment.position)
    )
    for delivery_id, filename, content, media_type in rows:
        found.setdefault(delivery_id, []).append(Attachment(filename, content, media_type))
    return {delivery_id: tuple(files) for delivery_id, files in found.items()}
