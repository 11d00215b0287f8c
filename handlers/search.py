"""`/invoices sent [filter]` (filtered, paged) and `/invoices find TEXT`, and the sent listing's paging clicks.

`sent` answers in the ack, like `due`; a filter that is not understood is the ack's one
sentence (InvalidInput, via answering_errors), naming the words. The paging buttons carry
the filter as typed and re-read it, so a click shows what the command would now.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from handlers.blocks.search import SENT_PAGE_SIZE, SentListing, find_blocks, sent_listing_blocks
from handlers.context import SessionFactory, Workplace
from handlers.errors import answering_errors
from handlers.ids import COMMAND, ActionId, BlockId
from handlers.invoice_buttons import invoice_buttons_row
from services.invoicing.search import MAX_FIND_TEXT, find_invoices
from services.tracking.sent_filter import parse_sent_filter
from services.tracking.status import SentQuery, list_sent_page

Blocks = list[dict[str, Any]]


async def sent_listing(listing: SentListing, *, sessions: SessionFactory, workplace: Workplace) -> Blocks:
    wanted = parse_sent_filter(listing.filter_text, today=workplace.today)
    query = SentQuery(
        organisation_id=workplace.organisation_id, filter=wanted, page=listing.page, page_size=SENT_PAGE_SIZE
    )
    async with sessions() as session:
        page = await list_sent_page(session, query)
    return sent_listing_blocks(page, listing=SentListing(page.page, listing.filter_text))


async def handle_sent(ack: AsyncAck, *, text: str, sessions: SessionFactory, workplace: Workplace) -> None:
    blocks = await sent_listing(SentListing(1, " ".join(text.split())), sessions=sessions, workplace=workplace)
    await ack(response_type="ephemeral", text="Latest invoice emails", blocks=blocks)


@answering_errors
async def handle_sent_page_action(
    ack: AsyncAck, respond: AsyncRespond, action: dict[str, Any], sessions: SessionFactory, workplace: Workplace
) -> None:
    await ack()
    listing = SentListing.decode(str(action.get("value", "")))
    blocks = await sent_listing(listing, sessions=sessions, workplace=workplace)
    await respond(replace_original=True, response_type="ephemeral", text="Latest invoice emails", blocks=blocks)


async def handle_find(ack: AsyncAck, *, text: str, sessions: SessionFactory, workplace: Workplace) -> None:
    typed = " ".join(text.split())[:MAX_FIND_TEXT]
    if not typed:
        await ack(
            response_type="ephemeral", text=f"Find what? Try `{COMMAND} find acme`, an invoice number or 1250.00."
        )
        return
    async with sessions() as session:
        found = await find_invoices(session, organisation_id=workplace.organisation_id, text=typed)
    rows = [
        invoice_buttons_row(item.number, item.status, block_id=f"{BlockId.FIND_ROW}:{index}")
        for index, item in enumerate(found.items)
    ]
    blocks = find_blocks(found, text=typed, locale=workplace.locale, buttons=rows)
    await ack(response_type="ephemeral", text="Invoices found", blocks=blocks)


def register(app: AsyncApp) -> None:
    app.action(ActionId.SENT_PREVIOUS)(handle_sent_page_action)
    app.action(ActionId.SENT_NEXT)(handle_sent_page_action)
