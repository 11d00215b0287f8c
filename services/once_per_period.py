"""Once per period: a scheduled thing happens once per (organisation, kind, period), however many
processes evaluate the schedule.

Reusable by every schedule (the daily digest and weekly summary today; reminders and autosend
later): a caller that finds a period due calls `claim_period` inside the transaction that writes
what the period owes (a Slack post as a notification row, queued emails …). The claim is a row
whose unique key is (organisation, kind, period), so of N workers evaluating the same moment one
inserts it and the others get False or `PERIOD_TAKEN` (a second insert waits for the first
transaction and then meets the unique key: on PostgreSQL at the row, on SQLite at the write
lock). The caller catches it around its unit of work, which rolls back. If the claimer's
transaction rolls back, its claim goes with it and the next evaluation claims the period again:
the work is done once, never zero times and never twice.

`last_claimed` tells a schedule where it stopped, so after an outage it can catch up once (the
latest missed period, saying how many were missed) instead of once per missed period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import PeriodClaim


@dataclass(frozen=True)
class PeriodKey:
    """One period of one schedule: `period` is the schedule's own sortable label (e.g. 2026-12-04, 2026-W49)."""

    organisation_id: int
    kind: str
    period: str


async def claim_period(session: AsyncSession, key: PeriodKey, *, now: datetime) -> bool:
    """Claim the period in the session's transaction: False when it was claimed already (seen here).

    The claim is flushed at once, so a race is decided now, before the caller does the work: when
    another transaction claimed the same period meanwhile, the flush (or the commit) raises
    `IntegrityError` — the caller lets its unit of work roll back and treats the period as taken
    (`PERIOD_TAKEN` names the exception to catch around the unit).
    """
    taken = await session.scalar(
        select(PeriodClaim.id).where(
            PeriodClaim.organisation_id == key.organisation_id,
            PeriodClaim.kind == key.kind,
            PeriodClaim.period == key.period,
        )
    )
    if taken is not None:
        return False
    session.add(PeriodClaim(organisation_id=key.organisation_id, kind=key.kind, period=key.period, claimed_at=now))
    await session.flush()  # PostgreSQL waits here for a concurrent claimer, then meets the unique key
    return True


PERIOD_TAKEN = IntegrityError  # what a claim that lost the race raises (at flush or commit)


async def last_claimed(session: AsyncSession, *, organisation_id: int, kind: str) -> str | None:
    """The latest period of `kind` claimed for the organisation (labels sort in time order), or None."""
    return await session.scalar(
        select(PeriodClaim.period)
        .where(PeriodClaim.organisation_id == organisation_id, PeriodClaim.kind == kind)
        .order_by(PeriodClaim.period.desc())
        .limit(1)
    )
