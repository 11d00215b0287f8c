"""The background view recorder (web/view_recorder.py): bounded, in order, and never raising."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.engine import create_engine, session_factory
from services.db.models import Delivery, DeliveryEvent, Invoice, utcnow
from services.tracking.page_views import Hit, ViewRules
from tests.harness.web import BROWSER_AGENT, SECRET
from web.view_recorder import PendingHit, ViewRecorder


def _hit(address: str) -> Hit:
    return Hit(method="GET", user_agent=BROWSER_AGENT, client_address=address)


async def test_a_full_queue_drops_the_extra_hits_and_the_queued_ones_are_written(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    recorder = ViewRecorder(sessions=sessions, rules=ViewRules(), secret=SECRET.encode(), max_pending=2)
    now = utcnow()

    accepted = [recorder.offer(PendingHit(hit=_hit(f"198.51.{n}.1"), at=now, invoice_id=invoice.id)) for n in range(5)]
    async with asyncio.timeout(10):
        await recorder.drained()
    await recorder.aclose()

    assert accepted == [True, True, False, False, False]
    assert recorder.dropped == 3 and recorder.failed == 0
    views = (await session.execute(select(DeliveryEvent).where(DeliveryEvent.type == "viewed"))).scalars().all()
    assert len(views) == 2


async def test_hits_that_name_nothing_record_nothing_and_the_next_one_still_lands(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, sent_invoice: tuple[Invoice, Delivery]
) -> None:
    invoice, _ = sent_invoice
    recorder = ViewRecorder(sessions=sessions, rules=ViewRules(), secret=SECRET.encode())
    now = utcnow()

    recorder.offer(PendingHit(hit=_hit("198.51.100.1"), at=now, invoice_id=invoice.id + 1000))  # no such invoice
    recorder.offer(PendingHit(hit=_hit("198.51.100.1"), at=now, verp_token="not-a-token"))
    recorder.offer(PendingHit(hit=_hit("198.51.100.1"), at=now, invoice_id=invoice.id))
    async with asyncio.timeout(10):
        await recorder.drained()
    await recorder.aclose()

    views = (await session.execute(select(DeliveryEvent).where(DeliveryEvent.type == "viewed"))).scalars().all()
    assert len(views) == 1


async def test_an_unreachable_database_counts_failures_and_the_recorder_keeps_going() -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:9/nothing")  # nothing listens on port 9
    recorder = ViewRecorder(sessions=session_factory(engine), rules=ViewRules(), secret=SECRET.encode())
    try:
        for n in range(3):
            assert recorder.offer(PendingHit(hit=_hit(f"198.51.{n}.1"), at=utcnow(), invoice_id=1))
        async with asyncio.timeout(10):
            await recorder.drained()
        assert recorder.failed == 3 and recorder.dropped == 0
    finally:
        await recorder.aclose()
        await engine.dispose()
