"""The `/invoices due` listing, shared by the command and by the buttons that refresh it."""

from __future__ import annotations

from handlers.blocks.elements import DUE_PAGE_SIZE, Block, due_listing_blocks
from handlers.context import Session, Workplace
from handlers.parsing import DueListing
from services.sending.due import DueQuery, list_due_invoices, list_ready_due_invoices

# The footer's "Send all ready (N)" counts across pages up to this many ("99+" beyond).
READY_COUNT_LIMIT = 99


async def due_listing(session: Session, *, workplace: Workplace, listing: DueListing) -> list[Block]:
    query = DueQuery(
        organisation_id=workplace.organisation_id,
        today=workplace.today,
        sending=workplace.sending,
        customer=listing.customer,
    )
    page = await list_due_invoices(session, query, page=listing.page, page_size=DUE_PAGE_SIZE)
    ready = None
    if page.total_count > len(page.items):  # other pages exist: count their ready invoices too
        ready = await list_ready_due_invoices(session, query, limit=READY_COUNT_LIMIT, batch=READY_COUNT_LIMIT + 1)
    return due_listing_blocks(
        page,
        listing=DueListing(page.page, listing.customer),
        today=workplace.today,
        locale=workplace.locale,
        ready=ready,
    )


def due_text(blocks: list[Block]) -> str:
    """The notification text Slack shows where blocks cannot be (previews, screen readers)."""
    first = blocks[0]
    text = first.get("text", {}).get("text", "") if isinstance(first.get("text"), dict) else ""
    return text or "Invoices due"
