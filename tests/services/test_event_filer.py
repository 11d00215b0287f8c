"""Group commit of delivery events: concurrent requests share transactions, each gets its own answer."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func, select

from services.db.models import DeliveryEvent, utcnow
from services.tracking.event_types import IncomingEvent
from services.tracking.filer import EventFiler


def event(n: int, *, occurred_at: datetime | None = None) -> IncomingEvent:
    return IncomingEvent(
        source="mailgun",
        type="delivered",
        recipient=f"r{n}@x.example",
        occurred_at=occurred_at or utcnow(),
        source_event_id=f"evt-{n}",
        raw="{}",
        message_id=f"<unknown-{n}@x.example>",
    )


async def test_concurrent_requests_are_each_answered_with_their_own_events(sessions, org):
    filer = EventFiler(sessions, verp_secret=b"k")
    now = utcnow()
    answers = await asyncio.gather(*(filer.file([event(n), event(n + 100)], now=now) for n in range(20)))
    again = await filer.file([event(3)], now=now)

    assert [len(answer) for answer in answers] == [2] * 20
    assert all(not item.duplicate and item.delivery_id is None for answer in answers for item in answer)
    assert [item.duplicate for item in again] == [True]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DeliveryEvent)) == 40


async def test_a_request_that_cannot_be_filed_fails_alone(sessions, org):
    filer = EventFiler(sessions, verp_secret=b"k")
    now = utcnow()
    bad = event(99, occurred_at=datetime(2026, 11, 23, 12, 0))  # noqa: DTZ001 - naive on purpose: refused
    results = await asyncio.gather(
        filer.file([event(1)], now=now),
        filer.file([bad], now=now),
        filer.file([event(2)], now=now),
        return_exceptions=True,
    )
    assert isinstance(results[1], Exception)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert [len(results[0]), len(results[2])] == [1, 1]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DeliveryEvent)) == 2


async def test_no_events_files_nothing(sessions, org):
    assert await EventFiler(sessions, verp_secret=b"k").file([], now=utcnow()) == []
