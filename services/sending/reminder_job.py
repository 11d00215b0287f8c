"""A reminder delivery (kind REMINDER) in the send worker: what it lists is decided when it goes.

remqueue produces the delivery row (services/reminders/dispatch.py) with its text rendered at
dispatch; the email may go out hours later (approval, a deferred retry, an outage). So in the
claim's transaction (`prepare_sends`) `reminder_jobs` reads the reminder's invoices again,
keeps those still owed and not held back by a stop rule (`services.reminders.owed.still_owed`:
the planner's own stop rules and balance), rebuilds the facts as of now — outstanding
balances, days late, on the organisation's local date — as `ReminderFacts` on the render job;
the render process writes the reminder's subject, text and its own HTML from them
(services.reminders.content, `RenderJob.reminder`) and attaches each kept invoice's PDF
(`RenderJob.documents`), so the claim's transaction does no template work. When none is
left the delivery ends `cancelled` without an email, with the sentence saying why ("INV-7 was
paid before the reminder went out.").

The payment race is closed in the data-start mark, just before DATA: `overtaken_reminders`
runs in the writer's round that marks the data as started and re-checks the invoices with
their rows locked, once for all the round's reminders; see services.reminders.owed and
docs/reminder-emails.md ("Reminders and payments: who wins"). A reminder overtaken there is
not sent: `transient`, so the next attempt prepares it again without the paid invoice (or cancels it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from services.clock import utcnow
from services.db.models import Delivery, OrganisationSettingsRow, Reminder, ReminderInvoice
from services.documents.model import InvoiceDocument, as_delivered, read_invoice_documents
from services.errors import DomainError
from services.invoicing.schedule_settings import local_date
from services.reminders.content import FeeLine, ReminderFacts, check_reminder_facts, reminder_invoice
from services.reminders.owed import still_owed
from services.sending.identity import SenderIdentity
from services.sending.jobs import ReminderCheck, RenderJob, organisation_shown
from services.sending.outcomes import Outcome

BaseJob = Callable[[Delivery, InvoiceDocument], RenderJob]
"""A delivery's job for a document already as delivered, without the invoice email's words
(pipeline.envelope_job): envelope headers, Message-ID, DKIM; a reminder's job adds its own words
and attachments."""


class ReminderOvertaken(Exception):
    """An invoice of the reminder stopped being owed between preparing and DATA: nothing was sent."""


def organisation_today(db: Session | Connection, organisation_id: int) -> date:
    """The organisation's local date now (its time zone; UTC before settings exist)."""
    zone = db.execute(
        select(OrganisationSettingsRow.time_zone).where(OrganisationSettingsRow.organisation_id == organisation_id)
    ).scalar()
    return local_date(zone, utcnow())


def overtaken_reminders(connection: Connection, checks: Mapping[int, ReminderCheck]) -> dict[int, str]:
    """delivery id → why its reminder must not go now (an invoice it lists is no longer owed), for a
    writer round's data-start marks all at once: one locked `still_owed` per (organisation, day)
    over the union of their invoices, not one per reminder. Groups go in a fixed order, rows in
    id order within each, so two rounds lock invoices in the same order."""
    wanted: dict[tuple[int, date], list[int]] = {}
    for check in checks.values():
        wanted.setdefault((check.organisation_id, check.today), []).extend(check.invoice_ids)
    dropped = {
        (organisation_id, today): still_owed(
            connection, organisation_id=organisation_id, invoice_ids=ids, today=today, lock=True
        ).dropped
        for (organisation_id, today), ids in sorted(wanted.items())
    }
    overtaken: dict[int, str] = {}
    for delivery_id, check in checks.items():
        gone = dropped[(check.organisation_id, check.today)]
        reasons = [gone[i] for i in dict.fromkeys(check.invoice_ids) if i in gone]
        if reasons:
            overtaken[delivery_id] = " ".join(reasons)
    return overtaken


def reminder_jobs(
    session: Session,
    deliveries: Sequence[Delivery],
    *,
    organisation_id: int,
    identity: SenderIdentity,
    organisation_name: str | None,
    base_job: BaseJob,
) -> dict[int, tuple[RenderJob, ReminderCheck] | Outcome]:
    """delivery id → its render job and what to re-check before DATA, or the outcome that ends it now."""
    if not deliveries:
        return {}
    today = organisation_today(session, organisation_id)
    reminder_ids = [d.reminder_id for d in deliveries if d.reminder_id is not None]
    reminders = {r.id: r for r in session.scalars(select(Reminder).where(Reminder.id.in_(reminder_ids)))}
    listed: dict[int, list[int]] = {}
    links = select(ReminderInvoice.reminder_id, ReminderInvoice.invoice_id).where(
        ReminderInvoice.reminder_id.in_(reminder_ids)
    )
    for reminder_id, invoice_id in session.execute(links.order_by(ReminderInvoice.id)):
        listed.setdefault(reminder_id, []).append(invoice_id)
    every = [invoice_id for ids in listed.values() for invoice_id in ids]
    owed = still_owed(session, organisation_id=organisation_id, invoice_ids=every, today=today)
    documents = read_invoice_documents(
        session, organisation_id=organisation_id, invoice_ids=list(owed.outstanding), public_url=identity.public_url
    )
    made: dict[int, tuple[RenderJob, ReminderCheck] | Outcome] = {}
    for delivery in deliveries:
        reminder = reminders.get(delivery.reminder_id or 0)
        ids = listed.get(delivery.reminder_id or 0, [])
        if reminder is None or not ids:
            made[delivery.id] = Outcome("permanent", "could not prepare the email: its reminder lists no invoice")
            continue
        kept = [invoice_id for invoice_id in ids if invoice_id in owed.outstanding]
        if not kept:
            reasons = " ".join(owed.dropped[i] for i in ids if i in owed.dropped)
            made[delivery.id] = Outcome("cancelled", reasons or "none of its invoices is owed any more.")
            continue
        try:
            shown = [(documents[i], owed.outstanding[i]) for i in kept]
            # written for its own day: a schedule evaluated ahead (`--as-of`, the demo) reads as on that day
            job = _job(delivery, reminder, shown, max(today, reminder.cohort), organisation_name, base_job)
        except DomainError as exc:
            made[delivery.id] = Outcome("permanent", f"could not prepare the email: {exc}")
            continue
        made[delivery.id] = (job, ReminderCheck(organisation_id, tuple(kept), today))
    return made


def _job(
    delivery: Delivery,
    reminder: Reminder,
    documents: list[tuple[InvoiceDocument | DomainError, Decimal]],
    today: date,
    organisation_name: str | None,
    base_job: BaseJob,
) -> RenderJob:
    """The reminder's render job: the facts as of now, its own words and HTML, each kept invoice's PDF.
    Each document is put as delivered once, here; the base job takes it as it is."""
    shown: list[tuple[InvoiceDocument, Decimal]] = []
    for document, outstanding in documents:
        if isinstance(document, DomainError):
            raise document
        shown.append((as_delivered(document, language=delivery.language, show_notes=delivery.show_notes), outstanding))
    first = shown[0][0]
    base = base_job(delivery, first)
    facts = ReminderFacts(
        organisation_name=organisation_shown(organisation_name, first),
        sender_name=base.from_name,
        customer_name=first.buyer.name,
        language=first.language,
        locale=first.locale,
        tone=str(reminder.tone),
        offset_days=reminder.step_offset,
        invoices=[reminder_invoice(d, outstanding=left, today=today) for d, left in shown],
        fee=FeeLine(amount=reminder.fee, currency=first.currency) if reminder.fee else None,
        pixel_url=base.pixel_url,
    )
    check_reminder_facts(facts)  # refused here, as before: the render process only writes the words
    return replace(
        base,
        reminder=facts,
        documents=tuple(d for d, _ in shown),
        attachments="pdf",
    )
