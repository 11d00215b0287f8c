"""A person's stop-rule requests, as Slack (and any surface) makes them: checked, then handed to stops.py.

Each checks who asks first (services.authorization: PAUSE_REMINDERS, PROMISE_TO_PAY, DISPUTE, the
senders' rule), then that the invoice belongs to the customer the view showed (a button's or a
select's value is untrusted) and is open — sent, an invoice, something left to pay — since a
promise or a dispute on anything else means nothing; then the audited service in
services/reminders/stops.py writes it. A refusal is `NotAllowed` / `InvalidInput` / `NotFound` with
a sentence, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from services.authorization import Action, ApprovalRules, authorize
from services.db.models import DocumentKind, Invoice, InvoiceStatus
from services.errors import InvalidInput
from services.invoicing.payments import balance_of_invoice
from services.reminders import stops
from services.reminders.ladder import customer_by_ref
from services.unit_of_work import UnitsOfWork


class NotOpenInvoice(InvalidInput):
    """The invoice chosen is not an open invoice of the customer: Slack shows it under the invoice field."""


async def check_open_invoice(units: UnitsOfWork, *, organisation_id: int, customer_ref: str, number: str) -> None:
    """Refuse (NotOpenInvoice; NotFound for an unknown customer) unless `number` is an open invoice
    of the customer `customer_ref`."""
    if not number.strip():
        raise NotOpenInvoice("Choose the invoice.")
    async with units() as unit:
        customer = await customer_by_ref(unit.session, organisation_id=organisation_id, ref=customer_ref)
        query = select(Invoice).where(Invoice.organisation_id == organisation_id, Invoice.number == number.strip())
        invoice = (await unit.session.scalars(query)).first()
        if invoice is None or invoice.customer_id != customer.id:
            raise NotOpenInvoice(f"{customer.name} has no invoice numbered {number.strip()!r}.")
        if invoice.kind != DocumentKind.INVOICE.value or invoice.status != InvoiceStatus.SENT.value:
            raise NotOpenInvoice(f"Invoice {invoice.number} is not open (it is {invoice.status}): nothing to remind.")
        if (await balance_of_invoice(unit.session, invoice)).outstanding <= 0:
            raise NotOpenInvoice(f"Invoice {invoice.number} has nothing left to pay: nothing to remind.")


@dataclass(frozen=True, kw_only=True)
class Asker:
    """Who asks, for which organisation, on which of its local days, under which rules."""

    rules: ApprovalRules
    organisation_id: int
    actor: str
    today: date


async def pause_reminders(units: UnitsOfWork, asker: Asker, *, customer_ref: str, until: date | None) -> None:
    """Pause the customer's reminders up to and including `until`, a day after today (None: resume now)."""
    authorize(asker.rules, asker.actor, Action.PAUSE_REMINDERS)
    if until is not None and until <= asker.today:
        raise InvalidInput(f"Pause until a day after today; {until.isoformat()} is not.")
    await stops.pause_customer(
        units,
        organisation_id=asker.organisation_id,
        customer_ref=customer_ref,
        actor=asker.actor,
        until=until,
        today=asker.today,
    )


async def promise(units: UnitsOfWork, asker: Asker, *, customer_ref: str, number: str, until: date) -> None:
    """The customer promised to pay invoice `number` by `until` (today or later)."""
    authorize(asker.rules, asker.actor, Action.PROMISE_TO_PAY)
    if until < asker.today:
        raise InvalidInput(f"A promise to pay runs to a date from today on; {until.isoformat()} has passed.")
    await check_open_invoice(units, organisation_id=asker.organisation_id, customer_ref=customer_ref, number=number)
    await stops.promise_to_pay(
        units, organisation_id=asker.organisation_id, number=number, actor=asker.actor, until=until, today=asker.today
    )


async def dispute(units: UnitsOfWork, asker: Asker, *, customer_ref: str, number: str, reason: str) -> None:
    """The customer disputes invoice `number` for `reason` (required)."""
    authorize(asker.rules, asker.actor, Action.DISPUTE)
    if not reason.strip():
        raise InvalidInput("Say why the invoice is disputed (the customer's reason), so the next person knows.")
    await check_open_invoice(units, organisation_id=asker.organisation_id, customer_ref=customer_ref, number=number)
    await stops.mark_disputed(
        units, organisation_id=asker.organisation_id, number=number, actor=asker.actor, reason=reason
    )


async def lift(units: UnitsOfWork, asker: Asker, *, number: str) -> None:
    """The dispute on invoice `number` is settled (refused when it is not disputed)."""
    authorize(asker.rules, asker.actor, Action.DISPUTE)
    await stops.lift_dispute(units, organisation_id=asker.organisation_id, number=number, actor=asker.actor)


async def switch_reminders(units: UnitsOfWork, asker: Asker, *, customer_ref: str, number: str, on: bool) -> None:
    """A person turns one open invoice's reminders on (even one marked as sent manually) or off."""
    authorize(asker.rules, asker.actor, Action.PAUSE_REMINDERS)
    await check_open_invoice(units, organisation_id=asker.organisation_id, customer_ref=customer_ref, number=number)
    await stops.set_invoice_reminders(
        units, organisation_id=asker.organisation_id, number=number, actor=asker.actor, on=on
    )
