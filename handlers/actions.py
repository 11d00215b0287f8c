"""Clicks on the `/invoices due` listing: paging and the row menu (the send buttons: review.py, bulk.py).

Every listener acks first, then works, then answers through the message's
`response_url` (replacing the listing, so the user sees the refreshed rows). A domain
error (an illegal transition, an unknown invoice) reaches the app's one error handler,
which tells the user in a sentence; the use case's unit of work is rolled back, nothing changes.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.elements import escape, notice_blocks, with_notice
from handlers.context import SessionFactory, Workplace
from handlers.due_listing import due_listing, due_text
from handlers.errors import answering_errors
from handlers.ids import ActionId, MenuChoice
from handlers.parsing import DueListing, actor_of, parse_menu_action
from handlers.payments import open_payment_modal
from handlers.review_policy import SendPolicy
from services.tracking.links import invoice_preview_link
from services.unit_of_work import UnitsOfWork
from services.use_cases import InvoiceChange, change_invoice


@answering_errors
async def handle_due_page_action(
    ack: AsyncAck, respond: AsyncRespond, action: dict[str, Any], sessions: SessionFactory, workplace: Workplace
) -> None:
    await ack()
    listing = DueListing.decode(str(action.get("value", "")))
    async with sessions() as session:
        blocks = await due_listing(session, workplace=workplace, listing=listing)
    await respond(replace_original=True, response_type="ephemeral", text=due_text(blocks), blocks=blocks)


@answering_errors
async def handle_invoice_menu_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    action: dict[str, Any],
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    choice = parse_menu_action(action)
    if choice.choice == MenuChoice.PREVIEW_PDF:
        minutes = send_policy.preview_link_minutes
        async with sessions() as session:
            invoice, preview = await invoice_preview_link(
                session,
                organisation_id=workplace.organisation_id,
                number=choice.number,
                now=send_policy.send.clock(),
                minutes=minutes,
                secret=send_policy.send.verp_secret(),
            )
        link = send_policy.public_link(preview.path)
        await respond(
            replace_original=False,
            response_type="ephemeral",
            text=f"PDF of {escape(invoice.number)}: {link}",
            blocks=notice_blocks(
                f"📄 The PDF of *{escape(invoice.number)}*, as the customer will get it: <{link}|open it> "
                f"(this link works for {minutes} minutes)"
            ),
        )
        return
    if choice.choice == MenuChoice.RECORD_PAYMENT:
        await open_payment_modal(
            client, trigger_id=body["trigger_id"], sessions=sessions, workplace=workplace, number=choice.number
        )
        return
    actor = actor_of(body).user_id
    marking = choice.choice == MenuChoice.MARK_SENT
    done = "marked as sent (no email was sent)" if marking else "validated"
    number = await change_invoice(
        units,
        rules=send_policy.rules,
        organisation_id=workplace.organisation_id,
        number=choice.number,
        actor=actor,
        change=InvoiceChange.MARK_SENT if marking else InvoiceChange.VALIDATE,
    )
    async with sessions() as session:
        blocks = await due_listing(session, workplace=workplace, listing=choice.listing)
    notice = f"✅ <@{actor}> {done}: *{escape(number)}*."
    await respond(
        replace_original=True,
        response_type="ephemeral",
        text=f"{escape(number)} {done}",
        blocks=with_notice(notice, blocks),
    )


def register(app: AsyncApp) -> None:
    app.action(ActionId.DUE_PREVIOUS)(handle_due_page_action)
    app.action(ActionId.DUE_NEXT)(handle_due_page_action)
    app.action(ActionId.INVOICE_MENU)(handle_invoice_menu_action)
