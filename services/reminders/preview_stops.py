"""Stopping what the send window's preview announced: *Skip today* and the *Review* modal's unticked rows.

A reminder is stopped by becoming `skipped` with a note saying who stopped it: the dispatcher
(services/reminders/dispatch.py) only takes `queued` rows, so a stopped reminder never becomes an
email. Only a reminder that has no delivery yet can be stopped; one already dispatched is gone.

Autosend has no row to change before it asks for a send, so a stop is a mark it checks: a claim
(services/once_per_period.py) for the organisation's local day, either the whole day
(`AUTOSEND_DAY_STOPPED`) or one invoice on that day (`AUTOSEND_INVOICE_STOPPED`, period
"<day>#<invoice id>"). `without_stopped` is the one place autosend reads them. The next day
autosend asks again as usual: *Skip today* means today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import Delivery, Invoice, PeriodClaim, Reminder, ReminderState
from services.errors import InvalidInput
from services.once_per_period import PERIOD_TAKEN, PeriodKey, claim_period
from services.unit_of_work import AuditEntry, UnitOfWork

AUTOSEND_DAY_STOPPED = "autosend_day_stopped"
AUTOSEND_INVOICE_STOPPED = "autosend_invoice_stopped"


def not_dispatched() -> ColumnElement[bool]:
    """The condition "this queued reminder has not become an email yet" (no delivery names it)."""
    return ~exists().where(Delivery.reminder_id == Reminder.id)


async def stoppable_reminder_ids(session: AsyncSession, *, organisation_id: int, local_day: date) -> list[int]:
    """Queued reminders produced up to `local_day` that no delivery names yet: what may still be stopped."""
    query = select(Reminder.id).where(
        Reminder.organisation_id == organisation_id,
        Reminder.state == ReminderState.QUEUED.value,
        Reminder.cohort <= local_day,
        not_dispatched(),
    )
    return sorted((await session.scalars(query)).all())


async def dispatched_reminder_ids(session: AsyncSession, *, organisation_id: int, local_day: date) -> list[int]:
    """The reminders of `local_day` turned into their email (`sent`): gone out (or going), no longer stoppable."""
    query = select(Reminder.id).where(
        Reminder.organisation_id == organisation_id,
        Reminder.state == ReminderState.SENT.value,
        Reminder.cohort == local_day,
    )
    return sorted((await session.scalars(query)).all())


async def without_stopped(
    session: AsyncSession, *, organisation_id: int, local_day: date, numbers: Sequence[str]
) -> list[str]:
    """`numbers` without the invoices a person stopped autosending on `local_day` (all of them after *Skip today*)."""
    if not numbers:
        return []
    claims = select(PeriodClaim.kind, PeriodClaim.period).where(
        PeriodClaim.organisation_id == organisation_id,
        PeriodClaim.kind.in_((AUTOSEND_DAY_STOPPED, AUTOSEND_INVOICE_STOPPED)),
        PeriodClaim.period.startswith(local_day.isoformat()),
    )
    stopped_ids: set[int] = set()
    for kind, period in (await session.execute(claims)).all():
        if kind == AUTOSEND_DAY_STOPPED and period == local_day.isoformat():
            return []
        if kind == AUTOSEND_INVOICE_STOPPED and period.startswith(f"{local_day.isoformat()}#"):
            stopped_ids.add(int(period.split("#", 1)[1]))
    if not stopped_ids:
        return list(numbers)
    stopped_numbers = set(
        (
            await session.scalars(
                select(Invoice.number).where(Invoice.organisation_id == organisation_id, Invoice.id.in_(stopped_ids))
            )
        ).all()
    )
    return [number for number in numbers if number not in stopped_numbers]


@dataclass(frozen=True)
class Stopped:
    """What a stop did: reminders turned `skipped`, autosend invoices held for the day, and what was too late."""

    reminders: int
    invoices: int
    too_late: tuple[str, ...] = ()  # said in words: "reminder 12 went out already"


@dataclass(frozen=True, kw_only=True)
class StopRequest:
    """Who stops what on which local day; empty `reminder_ids` and `invoice_numbers` with `whole_day` = *Skip today*."""

    organisation_id: int
    rules: ApprovalRules
    actor: str
    local_day: date
    now: datetime
    whole_day: bool = False
    reminder_ids: tuple[int, ...] = ()
    invoice_numbers: tuple[str, ...] = ()


async def stop_scheduled(unit: UnitOfWork, request: StopRequest, *, autosend_due: int = 0) -> Stopped:
    """Stop the day's scheduled mail (all of it, or the chosen rows), audited, in the caller's unit;
    senders only (`NotAllowed`). `autosend_due`: how many invoices *Skip today* holds (for the count)."""
    authorize(request.rules, request.actor, Action.SEND)
    stoppable = await stoppable_reminder_ids(
        unit.session, organisation_id=request.organisation_id, local_day=request.local_day
    )
    wanted = stoppable if request.whole_day else [rid for rid in request.reminder_ids if rid in stoppable]
    too_late = [f"reminder {rid} went out already" for rid in request.reminder_ids if rid not in stoppable]
    note = f"skipped for today by <@{request.actor}>" if request.whole_day else f"stopped by <@{request.actor}>"
    if wanted:
        await unit.session.execute(
            update(Reminder)
            .where(Reminder.id.in_(wanted), Reminder.state == ReminderState.QUEUED.value)
            .values(state=ReminderState.SKIPPED.value, note=note)
        )
    invoices = await _hold_autosend(unit, request)
    if not wanted and not invoices and not request.whole_day:
        raise InvalidInput("Nothing was unticked: everything listed still goes out.")
    unit.owe_audit(
        AuditEntry(
            organisation_id=request.organisation_id,
            actor=request.actor,
            action="schedule.skipped_today" if request.whole_day else "schedule.stopped",
            subject_type="organisation",
            subject_id=request.organisation_id,
            detail={
                "day": request.local_day.isoformat(),
                "reminders": wanted,
                "invoices": list(invoices),
                "too_late": too_late,
            },
        )
    )
    held = autosend_due if request.whole_day else len(invoices)
    return Stopped(reminders=len(wanted), invoices=held, too_late=tuple(too_late))


async def _hold_autosend(unit: UnitOfWork, request: StopRequest) -> tuple[str, ...]:
    """Mark the day (or each chosen invoice) as not to be autosent; returns the invoice numbers held."""
    session, day = unit.session, request.local_day.isoformat()
    keys: list[PeriodKey] = []
    held: list[str] = []
    if request.whole_day:
        keys.append(PeriodKey(request.organisation_id, AUTOSEND_DAY_STOPPED, day))
    elif request.invoice_numbers:
        rows = await session.execute(
            select(Invoice.id, Invoice.number).where(
                Invoice.organisation_id == request.organisation_id, Invoice.number.in_(request.invoice_numbers)
            )
        )
        for invoice_id, number in rows.all():
            keys.append(PeriodKey(request.organisation_id, AUTOSEND_INVOICE_STOPPED, f"{day}#{invoice_id}"))
            held.append(number)
    for key in keys:
        try:  # in a savepoint: a second click at the same moment finds the mark there, which is what it asked
            async with session.begin_nested():
                await claim_period(session, key, now=request.now)
        except PERIOD_TAKEN:
            continue
    return tuple(sorted(held))
