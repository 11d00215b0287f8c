"""The one way a delivery event gets in, whatever its source (DSN, webhooks, pixel, link page).

`record_delivery_event` does, in the caller's transaction (the caller commits):
1. **Correlate** the event to its delivery: the VERP token first (checked with its HMAC, a
   forged token counts as no token), then the envelope id (the worker sends the VERP
   token as ENVID), then the original Message-ID. No match is not an error: the event is
   stored as an *orphan* (`delivery_id` NULL) and counted (`count_unmatched_events`).
2. **Deduplicate** on (source, source_event_id): `INSERT … ON CONFLICT DO NOTHING`, so a
   provider's retry or a second copy of a DSN changes nothing, even when two arrive at once.
3. **Move the status** by the precedence in services.tracking.precedence (a later
   `delivered` never undoes a `bounced`; the delivery shows its worst-relevant
   recipient). A delivery that was never handed over (queued, sending, cancelled …)
   keeps its status; the event only lands on its timeline.
4. **Owe Slack** the status message (DELIVERY_STATUS, on every status change) and an
   alert (DELIVERY_ALERT) for a bounce, drop, complaint or failure, with the reason in
   plain words and the raw diagnostic.
5. **Suppress**: a hard bounce or complaint suppresses the address; soft bounces count
   (services.tracking.suppression).

`record_delivery_events` files a batch the same way, in order, in a handful of statements
(services.tracking.filing): what webhooks carrying many events and the benchmark use.
`file_events` and `file_unparsed` are the same in a unit of work of their own, committed
before they return: what the bounce mailbox loop calls for each message, before flagging it.

A delivery whose recipients are only deferred after acceptance shows `deferred` with no
next attempt: the receiving side is retrying, not us, and the worker only claims a
deferred delivery whose next attempt is due, so it is never sent again by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import DeliveryEvent
from services.tracking.event_types import UNPARSED, IncomingEvent
from services.tracking.filing import MAX_RAW_CHARS, Filing, correlate, event_row, insert_events
from services.unit_of_work import UnitsOfWork


@dataclass(frozen=True)
class RecordedEvent:
    event_id: int | None  # None for a duplicate
    delivery_id: int | None  # None for an orphan
    duplicate: bool
    status_changed: bool
    new_status: str | None


async def record_delivery_event(
    session: AsyncSession,
    *,
    event: IncomingEvent,
    now: datetime,
    verp_secret: bytes,
    organisation_id: int | None = None,
) -> RecordedEvent:
    """File one event (see the module doc). `organisation_id` is stored on orphans when the source knows it."""
    [recorded] = await record_delivery_events(
        session, events=[event], now=now, verp_secret=verp_secret, organisation_id=organisation_id
    )
    return recorded


async def record_delivery_events(
    session: AsyncSession,
    *,
    events: Sequence[IncomingEvent],
    now: datetime,
    verp_secret: bytes,
    organisation_id: int | None = None,
) -> list[RecordedEvent]:
    """File several events, in order, as if one by one — in a handful of statements (see event_filing)."""
    if not events:
        return []
    deliveries = await correlate(session, events=events, verp_secret=verp_secret)
    event_ids = await insert_events(
        session,
        [
            event_row(event, delivery, organisation_id=organisation_id, now=now)
            for event, delivery in zip(events, deliveries, strict=True)
        ],
    )
    filing = Filing(now=now)
    recorded: list[RecordedEvent] = []
    for event, delivery, event_id in zip(events, deliveries, event_ids, strict=True):
        if delivery is None or event_id is None:
            status = delivery.status if delivery else None
            recorded.append(RecordedEvent(event_id, delivery.id if delivery else None, event_id is None, False, status))
            continue
        changed = filing.apply(delivery, event, event_id)
        recorded.append(RecordedEvent(event_id, delivery.id, False, changed, delivery.status))
    await filing.finish(session)
    return recorded


@dataclass(frozen=True, kw_only=True)
class UnparsedMessage:
    """A message nobody could read: where it came from, its text, why it was not understood,
    and the id that makes filing it twice a no-op."""

    source: str
    raw: str
    reason: str
    source_event_id: str
    organisation_id: int | None = None


async def record_unparsed(session: AsyncSession, message: UnparsedMessage, *, now: datetime) -> RecordedEvent:
    """Keep a message nobody could read (type `unparsed`, no delivery) so it is counted and shown."""
    [event_id] = await insert_events(
        session,
        [{"organisation_id": message.organisation_id, "delivery_id": None, "source": message.source,
         "type": UNPARSED, "recipient": None, "occurred_at": now, "detail": {"reason": message.reason[:500]},
         "source_event_id": message.source_event_id, "raw": message.raw[:MAX_RAW_CHARS], "created_at": now}],
    )  # fmt: skip
    return RecordedEvent(event_id, None, event_id is None, False, None)


async def file_events(
    units: UnitsOfWork, *, events: Sequence[IncomingEvent], now: datetime, verp_secret: bytes
) -> list[RecordedEvent]:
    """Each event through `record_delivery_event`, one after the other, in one unit of work:
    all filed and committed when this returns, or none (it raises)."""
    async with units() as unit:
        return [
            await record_delivery_event(unit.session, event=event, now=now, verp_secret=verp_secret) for event in events
        ]


async def file_unparsed(units: UnitsOfWork, message: UnparsedMessage, *, now: datetime) -> RecordedEvent:
    """`record_unparsed` in a unit of work of its own, committed when this returns."""
    async with units() as unit:
        return await record_unparsed(unit.session, message, now=now)


@dataclass(frozen=True)
class UnmatchedEvent:
    """An event that names no delivery of ours: unparseable, or an orphan (its own type kept)."""

    event_id: int
    source: str
    type: str  # `unparsed`, or the orphan's event type (bounced, delivered …)
    recipient: str | None
    occurred_at: datetime
    reason: str | None


def _unmatched(organisation_id: int) -> Any:
    return (DeliveryEvent.delivery_id.is_(None)) & or_(
        DeliveryEvent.organisation_id == organisation_id, DeliveryEvent.organisation_id.is_(None)
    )


async def count_unmatched_events(session: AsyncSession, organisation_id: int) -> int:
    """Events with no delivery: the organisation's own, and those whose organisation is unknown."""
    query = select(func.count()).select_from(DeliveryEvent).where(_unmatched(organisation_id))
    return int((await session.execute(query)).scalar_one())


async def list_unmatched_events(
    session: AsyncSession, *, organisation_id: int, limit: int = 50
) -> list[UnmatchedEvent]:
    """The newest events with no delivery, for `/invoices problems`."""
    query = (
        select(DeliveryEvent)
        .where(_unmatched(organisation_id))
        .order_by(DeliveryEvent.occurred_at.desc(), DeliveryEvent.id.desc())
        .limit(limit)
    )
    rows = (await session.execute(query)).scalars()
    return [
        UnmatchedEvent(
            event_id=row.id,
            source=row.source,
            type=row.type,
            recipient=row.recipient,
            occurred_at=row.occurred_at,
            reason=(row.detail or {}).get("reason"),
        )
        for row in rows
    ]
