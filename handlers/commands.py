"""`/invoices …`: parse the text, call one service, answer with blocks.

`due` answers in the ack itself (the HTTP response carries the blocks, well inside
Slack's 3 seconds); `show` acks first and answers through `respond`, so a lookup that
fails still leaves Slack with its ack and the user with a sentence.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from handlers.blocks.deliveries import deliveries_blocks, unmatched_events_block
from handlers.blocks.elements import (
    MAX_BLOCKS,
    InvoiceView,
    LineView,
    escape,
    help_blocks,
    invoice_blocks,
    unknown_command_blocks,
)
from handlers.blocks.reminders import reminders_section
from handlers.blocks.status import delivery_summary
from handlers.context import SessionFactory, Workplace
from handlers.due_listing import due_listing, due_text
from handlers.errors import answering_errors
from handlers.history import handle_history_command
from handlers.ids import COMMAND
from handlers.invoice_buttons import invoice_button_blocks
from handlers.parsing import MAX_FILTER_LENGTH, DueListing, parse_invoices_command
from handlers.search import handle_find, handle_sent
from services.invoicing.balance import corrected_invoice_number, credit_notes_of
from services.invoicing.invoices import get_invoice, recipients_of
from services.invoicing.payments import balance_of_invoice
from services.invoicing.states import state_of_invoice
from services.reminders.overview import invoice_reminders
from services.tracking.events import count_unmatched_events
from services.tracking.status import invoice_delivery_views, list_problem_deliveries

DELIVERIES_SHOWN = 20


@answering_errors
async def handle_invoices_command(
    ack: AsyncAck,
    respond: AsyncRespond,
    command: dict[str, Any],
    sessions: SessionFactory,
    workplace: Workplace,
) -> None:
    request = parse_invoices_command(command.get("text"))
    if request.subcommand == "due":
        listing = DueListing(page=1, customer=request.argument[:MAX_FILTER_LENGTH] or None)
        async with sessions() as session:
            blocks = await due_listing(session, workplace=workplace, listing=listing)
        await ack(response_type="ephemeral", text=due_text(blocks), blocks=blocks)
    elif request.subcommand == "show":
        await handle_show(ack, respond, number=request.argument, sessions=sessions, workplace=workplace)
    elif request.subcommand == "history":
        await handle_history_command(ack, respond, number=request.argument, sessions=sessions, workplace=workplace)
    elif request.subcommand in ("help", "?"):
        await ack(response_type="ephemeral", text="How to use /invoices", blocks=help_blocks())
    elif request.subcommand == "sent":
        await handle_sent(ack, text=request.argument, sessions=sessions, workplace=workplace)
    elif request.subcommand == "find":
        await handle_find(ack, text=request.argument, sessions=sessions, workplace=workplace)
    elif request.subcommand == "problems":
        await handle_problems(ack, sessions=sessions, workplace=workplace)
    else:
        await ack(response_type="ephemeral", text="Unknown command", blocks=unknown_command_blocks(request.subcommand))


async def handle_show(
    ack: AsyncAck, respond: AsyncRespond, *, number: str, sessions: SessionFactory, workplace: Workplace
) -> None:
    if not number:
        await ack(response_type="ephemeral", text=f"Which invoice? Try `{COMMAND} show INV-0001`.")
        return
    await ack()
    async with sessions() as session:
        invoice = await get_invoice(session, organisation_id=workplace.organisation_id, number=number, with_lines=True)
        view = InvoiceView(
            number=invoice.number,
            customer_name=invoice.customer.name,
            status=str(invoice.status),
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            currency=invoice.currency,
            subtotal=invoice.subtotal,
            tax_total=invoice.tax_total,
            total=invoice.total,
            recipients=tuple(recipients_of(invoice)),
            lines=tuple(LineView(line.description, line.quantity, line.net_amount) for line in invoice.lines),
            sent_at=invoice.sent_at,
            sent_via=invoice.sent_via,
            sent_by=invoice.sent_by,
            state=(await state_of_invoice(session, invoice=invoice)).line,
        )
        balance = await balance_of_invoice(session, invoice)
        notes = await credit_notes_of(session, invoice.id)
        view = replace(
            view,
            paid=balance.paid,
            credited=balance.credited,
            outstanding=balance.outstanding,
            corrects=await corrected_invoice_number(session, invoice),
            credit_notes=tuple((note.number, note.total, note.status) for note in notes),
        )
        emails = await invoice_delivery_views(session, organisation_id=workplace.organisation_id, invoice_id=invoice.id)
        reminding = await invoice_reminders(session, invoice=invoice, today=workplace.today)
    blocks = invoice_blocks(
        view, today=workplace.today, locale=workplace.locale, deliveries=[delivery_summary(email) for email in emails]
    )
    trailing = invoice_button_blocks(view.number, view.status, emailed=bool(emails))
    reminders = reminders_section(reminding, today=workplace.today, locale=workplace.locale)
    blocks = [*blocks[: MAX_BLOCKS - len(trailing) - 1], reminders, *trailing]  # the emails are what is trimmed
    await respond(response_type="ephemeral", text=f"Invoice {escape(view.number)}", blocks=blocks)


async def handle_problems(ack: AsyncAck, *, sessions: SessionFactory, workplace: Workplace) -> None:
    """`problems`: the invoice emails that still need a person (`sent`: handlers.search)."""
    async with sessions() as session:
        items = await list_problem_deliveries(
            session, organisation_id=workplace.organisation_id, limit=DELIVERIES_SHOWN
        )
        unmatched = await count_unmatched_events(session, workplace.organisation_id)
    title, empty = "Emails that need a person", "✅ No problems: no email bounced, failed or is in doubt."
    blocks = deliveries_blocks(items, title=title, empty=empty)
    if unmatched:
        blocks.append(unmatched_events_block(unmatched))
    await ack(response_type="ephemeral", text=title, blocks=blocks)


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(handle_invoices_command)
