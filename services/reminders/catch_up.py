"""Producing the due reminders and, when a round catches up after an outage, saying so once.

A step produced later than its day (the worker was down when it was reached) is either caught
up — produced now, with a `catch-up:` note — or, when missed by more than the allowed lateness,
stored as skipped (services/reminders/plan.py). Either way the team should hear of it: the
round that wrote those rows owes one post in the notify channel, in the same transaction, so it
is said once however many workers produce (only the producer that wrote a row sees it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Invoice, InvoiceStatus, Reminder, ReminderState
from services.notifications import NotificationKind
from services.reminders.plan import DEFAULT_MAX_LATENESS_DAYS, PlannedReminder
from services.reminders.produce import Produced, produce_in
from services.unit_of_work import OwedPost, UnitsOfWork


async def reminder_organisations(session: AsyncSession) -> list[int]:
    """The organisations reminders may concern: a sent invoice (something to remind), or a reminder still queued."""
    with_sent = select(Invoice.organisation_id).where(Invoice.status == InvoiceStatus.SENT.value)
    with_queued = select(Reminder.organisation_id).where(Reminder.state == ReminderState.QUEUED.value)
    return sorted(set((await session.execute(with_sent.union(with_queued))).scalars()))


def caught_up(produced: Produced) -> tuple[list[PlannedReminder], list[PlannedReminder]]:
    """(caught up, skipped as too late) among what a run wrote: a queued row with a note came late."""
    late = [item for item in produced.produced if item.state == ReminderState.QUEUED and item.note]
    skipped = [item for item in produced.produced if item.state == ReminderState.SKIPPED]
    return late, skipped


async def produce_announced(
    units: UnitsOfWork,
    *,
    organisation_id: int,
    moment: datetime,
    max_lateness_days: int = DEFAULT_MAX_LATENESS_DAYS,
) -> Produced:
    """`produce_due`, plus the one notice of what it caught up and skipped, committed with the rows."""
    async with units() as unit:
        produced = await produce_in(
            unit.session, organisation_id=organisation_id, moment=moment, max_lateness_days=max_lateness_days
        )
        late, skipped = caught_up(produced)
        if late or skipped:
            payload = {"day": produced.plan.today.isoformat(), "caught_up": _items(late), "skipped": _items(skipped)}
            unit.owe_post(OwedPost(organisation_id, None, NotificationKind.REMINDERS, payload))
    return produced


def _items(items: list[PlannedReminder]) -> list[dict[str, Any]]:
    return [
        {
            "customer": item.customer_name,
            "step": item.step.offset_days,
            "numbers": [invoice.number for invoice in item.invoices],
            "note": item.note,
        }
        for item in items
    ]
