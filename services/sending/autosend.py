"""Autosend (issue 14, item 4): validated invoices go out on their issue date without a click.

Opt-in twice over: the organisation's setting (`autosend`) is every customer's default, and a
customer may differ either way (`customers.autosend`: None follows the organisation). An invoice
is autosent when it is validated, not sent, not void, its issue date has come in the
organisation's time zone, and nobody has asked for its email yet (any send of it, even a
cancelled or rejected one, means a person is in charge of it now).

Nothing is sent by a new path: each round asks `request_bulk_delivery` — the *Send all ready*
rules — as the `AUTOSEND` actor, so approval policy, suppression, the resend guard and the
review's default wording all apply; an invoice whose send needs an approval gets its approval
request posted instead of a send. Each invoice's idempotency key is derived from its number
alone, so N workers evaluating the same minute, or a round repeated after a crash, ask once.

Only inside the send window (services/invoicing/send_window.py): outside it a round asks for
nothing and says when the window opens next. A person may stop it for a day, or one invoice for
a day, from the window's preview in the channel: `without_stopped` (services/reminders/
preview_stops.py) takes those out before anything is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import AUTOSEND
from services.db.models import (
    Customer,
    Delivery,
    DeliveryKind,
    Invoice,
    InvoiceStatus,
    Organisation,
    OrganisationSettingsRow,
)
from services.errors import DomainError, InvalidInput, NotFound
from services.invoicing.schedule_settings import local_date, zone_named
from services.invoicing.send_window import parse_send_window
from services.invoicing.settings_store import stored_settings
from services.notifications import NotificationKind
from services.once_per_period import PERIOD_TAKEN, PeriodKey, claim_period
from services.reminders.preview_stops import without_stopped
from services.sending.bulk import MAX_BULK_INVOICES, BulkRequest, SkippedInvoice, request_bulk_delivery
from services.sending.context import ScheduledAsk
from services.unit_of_work import AuditEntry, OwedPost, UnitsOfWork

AUTOSEND_KEY = "autosend"  # with the invoice number, the key of its one autosend (services.sending.bulk)
SKIPPED_NOTICE = "autosend_skipped"  # the once-a-day notice of invoices autosend left for a person


@dataclass(frozen=True)
class AutosendRound:
    """What one evaluation did for one organisation."""

    organisation_id: int
    window_open: bool
    next_opening: datetime | None  # when closed: when it opens next (UTC)
    queued: tuple[str, ...] = ()  # invoice numbers whose email is queued
    awaiting_approval: tuple[str, ...] = ()  # invoice numbers whose approval request is posted
    skipped: tuple[SkippedInvoice, ...] = ()  # asked for but not ready (no recipient, suppressed, …)
    stopped: str | None = None  # why nothing could be asked (sending paused, SMTP not configured)
    local_day: date | None = None  # the organisation's day the round ran in (inside the window)


async def autosend_candidates(
    session: AsyncSession, *, organisation_id: int, organisation_default: bool, local_today: date
) -> list[str]:
    """The invoice numbers autosend owes on `local_today`, oldest issue first, at most one bulk's worth."""
    opted_in = or_(Customer.autosend.is_(True), and_(Customer.autosend.is_(None), literal(organisation_default)))
    asked_already = exists().where(Delivery.invoice_id == Invoice.id, Delivery.kind == DeliveryKind.INVOICE)
    query = (
        select(Invoice.number)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.status == InvoiceStatus.VALIDATED,
            Invoice.sent_at.is_(None),
            Invoice.voided_at.is_(None),
            Invoice.issue_date <= local_today,
            opted_in,
            ~asked_already,
        )
        .order_by(Invoice.issue_date, Invoice.number)
        .limit(MAX_BULK_INVOICES)
    )
    return list((await session.execute(query)).scalars())


async def autosend_organisations(session: AsyncSession) -> list[int]:
    """The organisations where autosend may owe something: on for the organisation, or for a customer."""
    by_setting = select(OrganisationSettingsRow.organisation_id).where(OrganisationSettingsRow.autosend.is_(True))
    by_customer = select(Customer.organisation_id).where(Customer.autosend.is_(True))
    return sorted(set((await session.execute(by_setting.union(by_customer))).scalars()))


async def autosend_round(session: AsyncSession, ask: ScheduledAsk) -> AutosendRound:
    """Ask for every autosend owed at `ask.send`'s moment, inside the window; the caller commits."""
    organisation_id, send, sending, public_url = ask.organisation_id, ask.send, ask.sending, ask.public_url
    organisation = await session.get(Organisation, organisation_id)
    values = await stored_settings(session, organisation) if organisation is not None else None
    if values is None:
        return AutosendRound(organisation_id, window_open=False, next_opening=None, stopped="no settings yet")
    moment = send.clock()
    zone = zone_named(values.time_zone)
    window = parse_send_window(values.send_window, holiday_country=values.holiday_country)
    if not window.is_open(moment, zone):
        return AutosendRound(organisation_id, window_open=False, next_opening=window.next_opening(moment, zone))
    local_today = local_date(values.time_zone, moment)
    numbers = await autosend_candidates(
        session, organisation_id=organisation_id, organisation_default=values.autosend, local_today=local_today
    )  # less what a person stopped for today from the window's preview
    numbers = await without_stopped(session, organisation_id=organisation_id, local_day=local_today, numbers=numbers)
    if not numbers:
        return AutosendRound(organisation_id, window_open=True, next_opening=None, local_day=local_today)
    request = BulkRequest(
        invoice_numbers=numbers, requested_by=AUTOSEND, public_url=public_url, idempotency_key=AUTOSEND_KEY
    )
    try:
        outcome = await request_bulk_delivery(
            session, organisation_id=organisation_id, request=request, send=send.at(moment), sending=sending
        )
    except DomainError as exc:  # sending paused or not configured: the whole round waits
        return AutosendRound(organisation_id, window_open=True, next_opening=None, stopped=str(exc))
    skipped = {item.invoice_number for item in outcome.skipped}
    asked = [number for number in numbers if number not in skipped]
    pairs = [(number, done) for number, done in zip(asked, outcome.requested, strict=True) if done.created]
    return AutosendRound(
        organisation_id,
        window_open=True,
        next_opening=None,
        queued=tuple(number for number, done in pairs if done.approval is None),
        awaiting_approval=tuple(number for number, done in pairs if done.approval is not None),
        skipped=outcome.skipped,
        local_day=local_today,
    )


async def run_autosend(units: UnitsOfWork, ask: ScheduledAsk) -> AutosendRound:
    """One organisation's autosend round in its own transaction: its sends, approvals and posts commit together.

    The team hears of it in the notify channel: each round that asked for something says what (with
    what it left for a person); invoices that only wait for a person are named once a day, not
    every minute (a claim per organisation and local day, services.once_per_period)."""
    async with units() as unit:
        done = await autosend_round(unit.session, ask)
        first_today = await _first_notice_today(unit.session, ask, done)  # claimed even when it posts anyway
        if done.queued or done.awaiting_approval or first_today:
            unit.owe_post(
                OwedPost(
                    organisation_id=ask.organisation_id,
                    delivery_id=None,
                    kind=NotificationKind.AUTOSEND,
                    payload=_notice(done),
                )
            )
    return done


async def _first_notice_today(session: AsyncSession, ask: ScheduledAsk, done: AutosendRound) -> bool:
    if not done.skipped or done.local_day is None:
        return False
    key = PeriodKey(ask.organisation_id, SKIPPED_NOTICE, done.local_day.isoformat())
    try:  # in a savepoint: losing the race to another worker must not roll back the sends asked above
        async with session.begin_nested():
            return await claim_period(session, key, now=ask.send.clock())
    except PERIOD_TAKEN:
        return False


def _notice(done: AutosendRound) -> dict[str, Any]:
    return {
        "queued": list(done.queued),
        "awaiting_approval": list(done.awaiting_approval),
        "skipped": [[item.invoice_number, "; ".join(item.reasons)] for item in done.skipped],
    }


CUSTOMER_CHOICES = {"on": True, "off": False, "default": None}  # default: follow the organisation's setting


def check_customer_choice(choice: str) -> str:
    """on, off or default, as typed in any case; anything else is refused with a sentence."""
    wanted = choice.strip().lower()
    if wanted not in CUSTOMER_CHOICES:
        raise InvalidInput(f"{choice!r} is not a choice: say on, off or default (the organisation's setting)")
    return wanted


async def set_customer_autosend(units: UnitsOfWork, *, organisation_id: int, ref: str, choice: str, actor: str) -> str:
    """Turn autosend on or off for one customer, or back to the organisation's setting; audited.
    Returns the sentence that says what holds now; `InvalidInput`/`NotFound` change nothing."""
    wanted = check_customer_choice(choice)
    async with units() as unit:
        customer = (
            await unit.session.execute(
                select(Customer).where(Customer.organisation_id == organisation_id, Customer.ref == ref.strip())
            )
        ).scalar_one_or_none()
        if customer is None:
            raise NotFound(f"There is no customer with the reference {ref.strip()!r}.")
        before, customer.autosend = customer.autosend, CUSTOMER_CHOICES[wanted]
        if before != customer.autosend:
            unit.owe_audit(
                AuditEntry(
                    organisation_id=organisation_id,
                    actor=actor,
                    action="customer.autosend_changed",
                    subject_type="customer",
                    subject_id=customer.id,
                    detail={"ref": customer.ref, "before": _choice_word(before), "after": wanted},
                )
            )
        name = customer.name
    if wanted == "default":
        return f"{name} follows the organisation's autosend setting."
    return f"Autosend is {wanted} for {name}."


def _choice_word(value: bool | None) -> str:
    return next(word for word, meaning in CUSTOMER_CHOICES.items() if meaning is value)
