"""Dispatching produced reminders: each queued reminder becomes one reminder email (a delivery), once.

The hand-off from producing (services/reminders/produce.py) to sending: a `queued` reminder row
with no delivery yet is a reminder email owed. A round, inside the organisation's send window
and only while sending is not paused, turns each into a delivery of kind REMINDER addressed to
its customer, in the customer's language, with the subject and text of
`render_reminder_email` as of now (what is still owed re-read with the send worker's own rule,
`services.reminders.owed.still_owed`: an invoice paid, voided, disputed, promised or paused since
it was produced is left out; a reminder with nothing left is closed as skipped, saying why). The
worker's pipeline renders and sends it (its HTML, the PDFs, re-checked again at send time).

The rules of an invoice's send apply, through the same pieces (services.sending.checks and
requests): the addresses and the suppression list (`check_request`), the approval policy on the
reminder's outstanding total per currency, the recipient-risk rule, and what a new delivery owes
(`record_request`: its approval row and request post, its status message, its audit entry). The
asker is the `REMINDERS` actor. A reminder that cannot go (no address, a suppressed one, an
approval nobody can give) gets no delivery: it is closed as skipped with its reason, so it is
not retried every minute, and the round says so once (the caller posts it).

Exactly once across N workers: the reminders are claimed `FOR UPDATE SKIP LOCKED` on PostgreSQL,
and the delivery insert is `ON CONFLICT DO NOTHING` on its unique `reminder_id` and idempotency
key `reminder:<id>`, so a twin round that read the same row writes nothing. The transaction that
writes the delivery turns the reminder `sent`, so `queued` rows are only the ones still owed
and each minute's claim reads those few, not every reminder ever produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import REMINDERS
from services.clock import utcnow
from services.db.models import (
    Attachments,
    Customer,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Organisation,
    Reminder,
    ReminderInvoice,
    ReminderState,
)
from services.documents.model import InvoiceDocument, in_language, read_invoice_documents
from services.errors import DomainError, FieldErrors
from services.invoicing.schedule_settings import local_date, zone_named
from services.invoicing.send_window import parse_send_window
from services.invoicing.settings_store import sender_from_name, stored_settings
from services.notifications import NotificationKind
from services.reminders.content import FeeLine, ReminderFacts, reminder_invoice, render_reminder_email
from services.reminders.owed import still_owed
from services.sending.checks import (
    CheckedRequest,
    DeliveryRequest,
    check_request,
    new_message_id,
    new_verp_token,
    stored_key,
)
from services.sending.context import ScheduledAsk
from services.sending.requests import insert_delivery, record_request
from services.sending.risk import recipient_risk
from services.unit_of_work import OwedPost, UnitsOfWork

REMINDER_KEY = "reminder"  # with the reminder's id, the idempotency key of its one email
ROUND_LIMIT = 100  # reminders per round and organisation; the next minute takes the rest


@dataclass(frozen=True)
class DispatchedReminder:
    """One reminder a round acted on: whose, which step, the invoices it lists; why, when it was not sent."""

    reminder_id: int
    customer_name: str
    step_offset: int
    numbers: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True)
class DispatchRound:
    """What one dispatch did for one organisation."""

    organisation_id: int
    window_open: bool
    next_opening: datetime | None  # when closed: when it opens next (UTC)
    queued: tuple[DispatchedReminder, ...] = ()
    awaiting_approval: tuple[DispatchedReminder, ...] = ()
    not_sent: tuple[DispatchedReminder, ...] = ()  # a person must act (address, suppression, approvers)
    settled: tuple[DispatchedReminder, ...] = ()  # nothing owed any more: closed quietly
    stopped: str | None = None  # why nothing could be dispatched (sending paused or not configured)


@dataclass
class _Acted:
    queued: list[DispatchedReminder] = field(default_factory=list)
    awaiting_approval: list[DispatchedReminder] = field(default_factory=list)
    not_sent: list[DispatchedReminder] = field(default_factory=list)
    settled: list[DispatchedReminder] = field(default_factory=list)


async def dispatch_round(session: AsyncSession, ask: ScheduledAsk) -> DispatchRound:
    """Turn the organisation's queued reminders into deliveries at `ask.send`'s moment; the caller commits."""
    organisation_id = ask.organisation_id
    organisation = await session.get(Organisation, organisation_id)
    values = await stored_settings(session, organisation) if organisation is not None else None
    if organisation is None or values is None:
        return DispatchRound(organisation_id, window_open=False, next_opening=None, stopped="no settings yet")
    moment = ask.send.clock()
    zone = zone_named(values.time_zone)
    window = parse_send_window(values.send_window, holiday_country=values.holiday_country)
    if not window.is_open(moment, zone):
        return DispatchRound(organisation_id, window_open=False, next_opening=window.next_opening(moment, zone))
    problems = ask.sending.problems()
    if problems:
        return DispatchRound(organisation_id, window_open=True, next_opening=None, stopped=problems[0].message)
    acted = _Acted()
    today = local_date(values.time_zone, moment)
    sender = await sender_from_name(session, organisation=organisation)
    # Rows are written at the real time even when the schedule is evaluated ahead (`reminders run
    # --as-of` tomorrow, the demo's `reminders in 10 days`): the worker and the notifier act on them now.
    written = min(moment, utcnow())
    for reminder in await _claim(session, organisation_id):
        await _dispatch_one(session, ask, _Facts(organisation.name, sender, today, written), reminder, acted)
    return DispatchRound(
        organisation_id,
        window_open=True,
        next_opening=None,
        queued=tuple(acted.queued),
        awaiting_approval=tuple(acted.awaiting_approval),
        not_sent=tuple(acted.not_sent),
        settled=tuple(acted.settled),
    )


async def _claim(session: AsyncSession, organisation_id: int) -> list[Reminder]:
    """Queued reminders with no email yet, oldest first; on PostgreSQL locked, skipping a twin round's."""
    has_email = exists().where(Delivery.reminder_id == Reminder.id)
    query = (
        select(Reminder)
        .where(Reminder.organisation_id == organisation_id, Reminder.state == ReminderState.QUEUED.value, ~has_email)
        .order_by(Reminder.id)
        .limit(ROUND_LIMIT)
        .with_for_update(skip_locked=True, of=Reminder)
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


@dataclass(frozen=True)
class _Facts:
    organisation_name: str
    sender_name: str
    today: date
    written_at: datetime  # the rows' time: the real one, never ahead of it


async def _owed_documents(
    session: AsyncSession, ask: ScheduledAsk, reminder: Reminder, language: str, today: date
) -> tuple[list[tuple[int, InvoiceDocument, Decimal]], str]:
    """The reminder's invoices still owed `today`, with what is outstanding, oldest due date first,
    and why the others are left out. Owed is the send worker's own rule (`still_owed`: status,
    balance and the stop rules), so a reminder held back since it was produced never becomes an email."""
    listed = await session.scalars(select(ReminderInvoice.invoice_id).where(ReminderInvoice.reminder_id == reminder.id))
    ids = list(listed.all())
    owed = await session.run_sync(
        lambda sync: still_owed(sync, organisation_id=ask.organisation_id, invoice_ids=ids, today=today)
    )
    documents = await session.run_sync(
        lambda sync: read_invoice_documents(
            sync, organisation_id=ask.organisation_id, invoice_ids=list(owed.outstanding), public_url=ask.public_url
        )
    )
    found = [
        (invoice_id, in_language(document, language), owed.outstanding[invoice_id])
        for invoice_id, document in documents.items()
        if not isinstance(document, DomainError)
    ]
    return sorted(found, key=lambda item: (item[1].due_date, item[1].number)), owed.reason()


async def _dispatch_one(
    session: AsyncSession, ask: ScheduledAsk, facts: _Facts, reminder: Reminder, acted: _Acted
) -> None:
    customer = await session.get(Customer, reminder.customer_id)
    assert customer is not None  # a reminder is deleted with its customer (ON DELETE CASCADE)
    owed, left_out = await _owed_documents(session, ask, reminder, customer.language, facts.today)
    numbers = tuple(document.number for _, document, _ in owed)
    said = DispatchedReminder(reminder.id, customer.name, reminder.step_offset, numbers)
    if not owed:
        await _close(session, reminder, f"nothing to remind of any more: {left_out}".strip())
        acted.settled.append(said)
        return
    first_id, first = owed[0][0], owed[0][1]
    content = ReminderFacts(
        organisation_name=facts.organisation_name,
        sender_name=facts.sender_name,
        customer_name=customer.name,
        language=customer.language,
        locale=first.locale,
        tone=reminder.tone.value,
        offset_days=reminder.step_offset,
        invoices=[reminder_invoice(document, outstanding=amount, today=facts.today) for _, document, amount in owed],
        fee=FeeLine(amount=reminder.fee, currency=first.currency) if reminder.fee else None,
    )
    try:
        email = render_reminder_email(content)
        request = DeliveryRequest(
            invoice_number=first.number, to=tuple(customer.emails), cc=tuple(customer.cc), subject=email.subject,
            message=email.text, language=customer.language, requested_by=REMINDERS,
        )  # fmt: skip
        checked = await check_request(session, organisation_id=ask.organisation_id, request=request)
    except DomainError as exc:
        await _not_sent(session, reminder, replace(said, reason=_reason(exc)), acted)
        return
    rules = ask.send.rules
    risk = None
    if rules.new_recipients:
        recipients = [*checked.to, *checked.cc]
        risk = await recipient_risk(
            session, organisation_id=ask.organisation_id, customer=customer, recipients=recipients
        )
    needs_approval = any(rules.needs_approval(total.amount) for total in content.totals) or risk is not None
    if needs_approval and not rules.approvers_for(REMINDERS):
        reason = "it needs an approval, but no approver is set: ask an admin"
        await _not_sent(session, reminder, replace(said, reason=reason), acted)
        return
    status = DeliveryStatus.AWAITING_APPROVAL if needs_approval else DeliveryStatus.QUEUED
    row = _row(ask, (reminder.id, first_id), request, checked, status, facts.written_at)
    delivery = await insert_delivery(session, row)
    if delivery is None:  # a twin round wrote it first (and marked the reminder)
        return
    await session.execute(
        update(Reminder)
        .where(Reminder.id == reminder.id)
        .values(state=ReminderState.SENT.value)
        .execution_options(synchronize_session=False)
    )
    detail: dict[str, Any] = {
        "number": first.number, "reminder_id": reminder.id, "invoices": ", ".join(numbers),
        "to": ", ".join(checked.to), "status": status.value, **({"approval_reason": risk} if risk else {}),
    }  # fmt: skip
    await record_request(session, delivery=delivery, invoice_number=first.number, detail=detail, now=facts.written_at)
    (acted.awaiting_approval if needs_approval else acted.queued).append(said)


def _row(
    ask: ScheduledAsk,
    ids: tuple[int, int],
    request: DeliveryRequest,
    checked: CheckedRequest,
    status: DeliveryStatus,
    now: datetime,
) -> dict[str, Any]:
    """The delivery's columns; `ids` is (reminder id, the first listed invoice's id)."""
    (reminder_id, invoice_id), send = ids, ask.send
    key = stored_key(f"{REMINDER_KEY}:{reminder_id}")
    return {
        "organisation_id": ask.organisation_id, "invoice_id": invoice_id, "kind": DeliveryKind.REMINDER.value,
        "reminder_id": reminder_id, "status": status.value, "to": checked.to, "cc": checked.cc, "bcc": [],
        "subject": checked.subject, "body_text": checked.message, "language": request.language,
        "attachments": Attachments.PDF.value,
        "message_id": new_message_id(request.invoice_number, send.message_id_domain),
        "verp_token": new_verp_token(send.verp_secret()), "idempotency_key": key,
        "requested_by": REMINDERS, "override_suppression": False, "show_notes": True,
        "next_attempt_at": now if status == DeliveryStatus.QUEUED else None, "created_at": now, "updated_at": now,
    }  # fmt: skip


async def _not_sent(session: AsyncSession, reminder: Reminder, said: DispatchedReminder, acted: _Acted) -> None:
    await _close(session, reminder, f"not sent: {said.reason}")
    acted.not_sent.append(said)


def _reason(error: DomainError) -> str:
    if isinstance(error, FieldErrors):
        if "to" in error.errors:
            return "the customer has no email address to send it to"
        if "override_suppression" in error.errors:
            return error.errors["override_suppression"].replace(": tick 'send anyway' to override", "")
        return "; ".join(error.errors.values())
    return str(error)


async def _close(session: AsyncSession, reminder: Reminder, note: str) -> None:
    """Close a reminder that gets no email as skipped with `note`, so no round tries it again.

    The table keeps one skipped reminder per customer, step and day: when the producer already
    stored one (other invoices of the step missed by too much), this one's invoices join it."""
    try:
        async with session.begin_nested():
            await session.execute(
                update(Reminder)
                .where(Reminder.id == reminder.id, Reminder.state == ReminderState.QUEUED.value)
                .values(state=ReminderState.SKIPPED.value, note=note)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        twin = await session.scalar(
            select(Reminder).where(
                Reminder.organisation_id == reminder.organisation_id, Reminder.customer_id == reminder.customer_id,
                Reminder.step_offset == reminder.step_offset, Reminder.cohort == reminder.cohort,
                Reminder.state == ReminderState.SKIPPED.value,
            )
        )  # fmt: skip
        assert twin is not None  # the conflict was with it
        await session.execute(
            update(ReminderInvoice).where(ReminderInvoice.reminder_id == reminder.id).values(reminder_id=twin.id)
        )
        twin.note = f"{twin.note}; {note}" if twin.note else note
        await session.delete(reminder)
    await session.flush()


async def run_dispatch(units: UnitsOfWork, ask: ScheduledAsk) -> DispatchRound:
    """One organisation's dispatch in its own transaction: its deliveries, approvals and posts commit together.

    Reminders that could not go are named in the notify channel once: they are closed in the same
    transaction, so no later round sees them again."""
    async with units() as unit:
        done = await dispatch_round(unit.session, ask)
        if done.not_sent:
            payload = {"not_sent": [[item.customer_name, list(item.numbers), item.reason] for item in done.not_sent]}
            unit.owe_post(OwedPost(ask.organisation_id, None, NotificationKind.REMINDERS, payload))
    return done
