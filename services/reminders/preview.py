"""The send window's preview: "3 reminders and 2 invoices go out at 09:00 (Europe/Zurich)" in the channel.

Scheduled mail (reminders, autosend) leaves only inside the send window (services/invoicing/
send_window.py). Before it does, the team is shown what will leave at the next opening (or now,
when the window is open), so a person can look and stop one (services/reminders/preview_stops.py).
The preview is posted once per (organisation, opening) however many workers evaluate the
minute: a claim per opening (services/once_per_period.py) in the transaction that owes the post.

When: `preview_lead` minutes before the opening (a setting); 0 means as soon as something is
queued for it. Nothing to go out means no post (and no claim: a reminder queued later in the
night still gets its preview). What is queued after the preview was posted is not announced again.

What: queued reminders no delivery names yet (produced up to the opening's local day) and the
invoices autosend would ask for that day (`autosend_candidates`, minus those a person stopped).
Slack-free: the post is a notification row (`WINDOW_PREVIEW`) the notifier renders.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Customer, Invoice, Organisation, Reminder, ReminderInvoice, ReminderState
from services.invoicing.schedule_settings import zone_named
from services.invoicing.send_window import parse_send_window
from services.invoicing.settings import OrganisationSettingsValues
from services.invoicing.settings_store import stored_settings
from services.notifications import NotificationKind
from services.once_per_period import PERIOD_TAKEN, PeriodKey, claim_period
from services.reminders.preview_stops import (
    Stopped,
    StopRequest,
    dispatched_reminder_ids,
    stop_scheduled,
    stoppable_reminder_ids,
    without_stopped,
)
from services.sending.autosend import autosend_candidates, autosend_organisations
from services.unit_of_work import OwedPost, UnitsOfWork

WINDOW_PREVIEW = "window_preview"  # the claim's kind: one preview per (organisation, opening)


@dataclass(frozen=True)
class PreviewReminder:
    """One reminder email still to go: whom, which invoices, which step of the ladder (days from due)."""

    reminder_id: int
    customer: str
    invoices: tuple[str, ...]
    step_offset: int


@dataclass(frozen=True)
class PreviewRound:
    """What goes out at the next opening, and whether this evaluation posted the preview of it."""

    organisation_id: int
    opening: datetime | None  # UTC; None: no settings yet
    local_day: date | None
    at: str = ""  # the opening's local clock, like 09:00
    time_zone: str = "UTC"
    reminders: tuple[PreviewReminder, ...] = ()
    invoices: tuple[str, ...] = ()  # autosend's invoice numbers
    lead_minutes: int = 0  # the organisation's preview lead
    gone: tuple[PreviewReminder, ...] = ()  # the day's reminders already dispatched: too late to stop (Review only)
    posted: bool = False

    @property
    def empty(self) -> bool:
        return not self.reminders and not self.invoices


async def _settings(session: AsyncSession, organisation_id: int) -> OrganisationSettingsValues | None:
    organisation = await session.get(Organisation, organisation_id)
    return await stored_settings(session, organisation) if organisation is not None else None


async def scheduled_for(
    session: AsyncSession, *, organisation_id: int, moment: datetime, due_only: bool = False
) -> PreviewRound:
    """What leaves at the window's next opening at `moment` (its start today, when open now); reads only.

    `due_only`: before the preview lead, answer with the opening alone (no listing is read)."""
    values = await _settings(session, organisation_id)
    if values is None:
        return PreviewRound(organisation_id, opening=None, local_day=None)
    zone = zone_named(values.time_zone)
    window = parse_send_window(values.send_window, holiday_country=values.holiday_country)
    opening = window.next_opening(moment, zone)
    if window.is_open(moment, zone):  # the opening of today's window, so one preview per opening, not per minute
        opening = datetime.combine(moment.astimezone(zone).date(), window.start, tzinfo=zone)
    local = opening.astimezone(zone)
    leaving = max(opening, moment).astimezone(zone)  # an open window lets it out now, not at its opening past
    found = PreviewRound(
        organisation_id, opening=opening.astimezone(moment.tzinfo), local_day=local.date(), at=f"{leaving:%H:%M}",
        time_zone=values.time_zone, lead_minutes=values.preview_lead,
    )  # fmt: skip
    if due_only and values.preview_lead and moment < opening - timedelta(minutes=values.preview_lead):
        return found
    return await _with_items(session, found, values)


async def scheduled_on(session: AsyncSession, *, organisation_id: int, local_day: date) -> PreviewRound:
    """What still leaves on the organisation's `local_day` (what *Review* lists; `opening` left None)."""
    values = await _settings(session, organisation_id)
    if values is None:
        return PreviewRound(organisation_id, opening=None, local_day=None)
    window = parse_send_window(values.send_window, holiday_country=values.holiday_country)
    gone = await _described(
        session, await dispatched_reminder_ids(session, organisation_id=organisation_id, local_day=local_day)
    )
    found = PreviewRound(
        organisation_id, opening=None, local_day=local_day, at=f"{window.start:%H:%M}", time_zone=values.time_zone,
        lead_minutes=values.preview_lead, gone=gone,
    )  # fmt: skip
    return await _with_items(session, found, values)


async def _with_items(session: AsyncSession, found: PreviewRound, values: OrganisationSettingsValues) -> PreviewRound:
    """`found` with its day's reminders not yet dispatched and autosend's invoices not stopped."""
    day, organisation_id = found.local_day, found.organisation_id
    assert day is not None  # set by both callers
    numbers = await autosend_candidates(
        session, organisation_id=organisation_id, organisation_default=values.autosend, local_today=day
    )
    invoices = await without_stopped(session, organisation_id=organisation_id, local_day=day, numbers=numbers)
    reminders = await _reminders(session, organisation_id=organisation_id, local_day=day)
    return replace(found, reminders=reminders, invoices=tuple(invoices))


async def preview_organisations(session: AsyncSession) -> list[int]:
    """The organisations a preview may be owed for: queued reminders, or autosend on (for it or a customer)."""
    queued = select(Reminder.organisation_id).where(Reminder.state == ReminderState.QUEUED.value)
    return sorted(set((await session.scalars(queued.distinct())).all()) | set(await autosend_organisations(session)))


async def preview_round(units: UnitsOfWork, *, organisation_id: int, moment: datetime) -> PreviewRound:
    """Post the preview of the next opening once, when it is due and something goes out; one transaction.

    Safe to call every minute from every worker (the reminders loop, the autosend loop): a lost
    race for the opening's claim posts nothing and reports `posted=False`."""
    try:
        async with units() as unit:
            found = await scheduled_for(unit.session, organisation_id=organisation_id, moment=moment, due_only=True)
            if found.opening is None or found.empty:  # no settings, not due yet, or nothing goes out
                return found
            key = PeriodKey(organisation_id, WINDOW_PREVIEW, found.opening.astimezone(zone_named("UTC")).isoformat())
            if not await claim_period(unit.session, key, now=moment):
                return found
            unit.owe_post(
                OwedPost(
                    organisation_id=organisation_id,
                    delivery_id=None,
                    kind=NotificationKind.WINDOW_PREVIEW,
                    payload=preview_payload(found),
                )
            )
    except PERIOD_TAKEN:  # another worker claimed this opening a moment ago: it posts
        return found
    return replace(found, posted=True)


@dataclass(frozen=True)
class PreviewMessage:
    """Where the preview a person acted on is in Slack, so its rewrite is owed to that message."""

    channel: str
    ts: str


async def stop_from_preview(units: UnitsOfWork, request: StopRequest, message: PreviewMessage) -> Stopped:
    """*Skip today* or *Review*'s stops (services/reminders/preview_stops.py) and the preview's rewrite: one unit.

    The rewrite (who stopped what; after *Skip today* what was listed without its buttons, after a
    review what still goes out) is a notification row committed with the change, so the message
    and the rows cannot disagree for longer than the notifier takes."""
    async with units() as unit:
        before = await scheduled_on(unit.session, organisation_id=request.organisation_id, local_day=request.local_day)
        done = await stop_scheduled(unit, request, autosend_due=len(before.invoices))
        after = await scheduled_on(unit.session, organisation_id=request.organisation_id, local_day=request.local_day)
        unit.owe_post(
            OwedPost(
                organisation_id=request.organisation_id,
                delivery_id=None,
                kind=NotificationKind.WINDOW_PREVIEW_STOPPED,
                channel=message.channel or None,
                payload={
                    "ts": message.ts,
                    "actor": request.actor,
                    "whole_day": request.whole_day,
                    "reminders": done.reminders,
                    "invoices": done.invoices,
                    "too_late": list(done.too_late),
                    "listing": preview_payload(before if request.whole_day else after),
                },
            )
        )
    return done


def preview_payload(found: PreviewRound) -> dict[str, Any]:
    """The notification's payload: plain values the renderer (handlers/blocks/window_preview.py) reads."""
    return {
        "day": found.local_day.isoformat() if found.local_day else "",
        "at": found.at,
        "time_zone": found.time_zone,
        "reminders": [[item.customer, ", ".join(item.invoices)] for item in found.reminders],
        "invoices": list(found.invoices),
    }


async def _reminders(session: AsyncSession, *, organisation_id: int, local_day: date) -> tuple[PreviewReminder, ...]:
    return await _described(
        session, await stoppable_reminder_ids(session, organisation_id=organisation_id, local_day=local_day)
    )


async def _described(session: AsyncSession, ids: list[int]) -> tuple[PreviewReminder, ...]:
    if not ids:
        return ()
    rows = await session.execute(
        select(Reminder.id, Customer.name, Reminder.step_offset, Invoice.number)
        .join(Customer, Customer.id == Reminder.customer_id)
        .join(ReminderInvoice, ReminderInvoice.reminder_id == Reminder.id)
        .join(Invoice, Invoice.id == ReminderInvoice.invoice_id)
        .where(Reminder.id.in_(ids))
        .order_by(Reminder.id, Invoice.number)
    )
    numbers: dict[int, list[str]] = defaultdict(list)
    heads: dict[int, tuple[str, int]] = {}
    for reminder_id, customer, step, number in rows.all():
        heads[reminder_id] = (customer, step)
        numbers[reminder_id].append(number)
    return tuple(PreviewReminder(rid, heads[rid][0], tuple(numbers[rid]), heads[rid][1]) for rid in sorted(heads))
