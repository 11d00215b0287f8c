"""Clicks on the `/invoices due` listing: paging, the row menu, and the send buttons.

Every listener acks first, then works, then answers through the message's
`response_url` (replacing the listing, so the user sees the refreshed rows). A domain
error (an illegal transition, an unknown invoice) reaches the app's one error handler,
which tells the user in a sentence; the unit of work is rolled back, nothing changes.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from handlers.blocks import coming_soon_blocks, notice_blocks, with_notice
from handlers.context import SessionFactory, Workplace
from handlers.due_listing import due_listing, due_text
from handlers.errors import answering_errors
from handlers.ids import ActionId, MenuChoice
from handlers.parsing import DueListing, actor_of, parse_menu_action
from services.invoices import mark_sent_manually, validate_invoice


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
    sessions: SessionFactory,
    workplace: Workplace,
) -> None:
    await ack()
    choice = parse_menu_action(action)
    if choice.choice == MenuChoice.PREVIEW_PDF:
        await respond(
            replace_original=False,
            response_type="ephemeral",
            text="PDF preview",
            blocks=coming_soon_blocks(f"The PDF preview of {choice.number}"),
        )
        return
    actor = actor_of(body).user_id
    change = mark_sent_manually if choice.choice == MenuChoice.MARK_SENT else validate_invoice
    done = "marked as sent (no email was sent)" if choice.choice == MenuChoice.MARK_SENT else "validated"
    async with sessions() as session:
        invoice = await change(session, organisation_id=workplace.organisation_id, number=choice.number, actor=actor)
        await session.commit()
        blocks = await due_listing(session, workplace=workplace, listing=choice.listing)
    notice = f"✅ <@{actor}> {done}: *{invoice.number}*."
    await respond(
        replace_original=True,
        response_type="ephemeral",
        text=f"{invoice.number} {done}",
        blocks=with_notice(notice, blocks),
    )


@answering_errors
async def handle_not_yet_available_action(ack: AsyncAck, respond: AsyncRespond, action: dict[str, Any]) -> None:
    """*Review & send* and *Send all ready* until the review modal and bulk send land."""
    await ack()
    what = "Sending from Slack" if action.get("action_id") == ActionId.REVIEW_AND_SEND else "Bulk sending"
    await respond(
        replace_original=False,
        response_type="ephemeral",
        text=what,
        blocks=notice_blocks(f"{what} is not available yet in this version; nothing was sent."),
    )


def register(app: AsyncApp) -> None:
    app.action(ActionId.DUE_PREVIOUS)(handle_due_page_action)
    app.action(ActionId.DUE_NEXT)(handle_due_page_action)
    app.action(ActionId.INVOICE_MENU)(handle_invoice_menu_action)
    app.action(ActionId.REVIEW_AND_SEND)(handle_not_yet_available_action)
    app.action(ActionId.SEND_ALL_READY)(handle_not_yet_available_action)
