"""The once-per-period store on the real database: two transactions racing for one period, one wins;
a claimer that rolls back leaves the period to the next one (done once, never zero times)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.clock import utcnow
from services.db.models import Organisation, PeriodClaim
from services.once_per_period import PERIOD_TAKEN, PeriodKey, claim_period, last_claimed


async def outcome(claim: Awaitable[bool]) -> str:
    try:
        return "claimed" if await asyncio.wait_for(claim, timeout=15) else "seen taken"
    except PERIOD_TAKEN:
        return "lost the race"


async def test_of_two_transactions_claiming_one_period_the_second_never_gets_it(
    sessions: async_sessionmaker[AsyncSession], org: Organisation
):
    key = PeriodKey(org.id, "daily_digest", "2026-12-07")
    async with sessions() as first, sessions() as second:
        assert await claim_period(first, key, now=utcnow())
        racing = asyncio.create_task(outcome(claim_period(second, key, now=utcnow())))
        await asyncio.sleep(0.1)  # let the second reach its insert, which waits for the first transaction
        await first.commit()
        assert await racing in ("lost the race", "seen taken")
        await second.rollback()
        assert await claim_period(second, key, now=utcnow()) is False
        other_day = PeriodKey(org.id, "daily_digest", "2026-12-08")
        assert await claim_period(second, other_day, now=utcnow())
        await second.commit()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(PeriodClaim)) == 2
        assert await last_claimed(session, organisation_id=org.id, kind="daily_digest") == "2026-12-08"
        assert await last_claimed(session, organisation_id=org.id, kind="reminders") is None


async def test_a_claim_rolled_back_with_its_work_leaves_the_period_to_the_next_claimer(
    sessions: async_sessionmaker[AsyncSession], org: Organisation
):
    key = PeriodKey(org.id, "daily_digest", "2026-12-07")
    async with sessions() as first, sessions() as second:
        assert await claim_period(first, key, now=utcnow())
        racing = asyncio.create_task(outcome(claim_period(second, key, now=utcnow())))
        await asyncio.sleep(0.1)
        await first.rollback()  # the work failed: the claim goes with it
        assert await racing == "claimed"
        await second.commit()
    async with sessions() as session:
        assert await last_claimed(session, organisation_id=org.id, kind="daily_digest") == "2026-12-07"
