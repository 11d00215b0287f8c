"""Blocks for `/invoices sent` (filtered and paged) and `/invoices find` (invoices by number,
customer or amount): pure functions of the services' plain values."""

from __future__ import annotations

import json
from dataclasses import dataclass

from handlers.blocks.deliveries import delivery_line
from handlers.blocks.elements import (
    MAX_BLOCKS,
    Block,
    context_block,
    escape,
    paging_buttons,
    plain_text,
    section,
)
from handlers.ids import COMMAND, ActionId, BlockId
from handlers.parsing import listing_state
from services.formatting import format_money
from services.invoicing.search import FoundInvoice, FoundInvoices
from services.tracking.sent_filter import MAX_FILTER_TEXT
from services.tracking.status import SentPage

SENT_PAGE_SIZE = 20  # header, context, 20 lines and the footer: 23 blocks


@dataclass(frozen=True)
class SentListing:
    """Which page of `/invoices sent` a message shows, and its filter as typed; carried by its buttons."""

    page: int = 1
    filter_text: str = ""

    def encode(self) -> str:
        return json.dumps({"p": self.page, "f": self.filter_text}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str) -> SentListing:
        page, typed = listing_state(raw, filter_key="f", command=f"{COMMAND} sent", max_filter=MAX_FILTER_TEXT)
        return cls(page=page, filter_text=typed or "")


def sent_listing_blocks(page: SentPage, *, listing: SentListing) -> list[Block]:
    """The `/invoices sent` message: the emails, newest first, and the paging buttons."""
    typed = f" matching “{escape(listing.filter_text)}”" if listing.filter_text else ""
    if not page.items:
        if listing.filter_text:
            return [section(f"No invoice email{typed}.")]
        return [section(f"No invoice has been emailed yet. `{COMMAND} due` lists what to send.")]
    count = f"{page.total_count} email" + ("" if page.total_count == 1 else "s")
    blocks: list[Block] = [
        {"type": "header", "text": plain_text("Latest invoice emails", 150)},
        context_block(f"{count}{typed} · page {page.page} of {page.page_count} · newest first"),
    ]
    blocks += [section(delivery_line(item)) for item in page.items[:SENT_PAGE_SIZE]]
    buttons = paging_buttons(
        page,
        previous=ActionId.SENT_PREVIOUS,
        following=ActionId.SENT_NEXT,
        value_of=lambda number: SentListing(number, listing.filter_text).encode(),
    )
    if buttons:
        blocks.append({"type": "actions", "block_id": BlockId.SENT_FOOTER, "elements": buttons})
    return blocks[:MAX_BLOCKS]


def found_line(item: FoundInvoice, *, locale: str) -> str:
    amount = format_money(item.total, item.currency, locale)
    return f"*{escape(item.number)}* · {escape(item.customer_name)} · {amount}\n{escape(item.state.line)}"


def find_blocks(found: FoundInvoices, *, text: str, locale: str, buttons: list[Block]) -> list[Block]:
    """`/invoices find`: each invoice with its status and the buttons of `/invoices show`.

    `buttons[i]` is the actions block of `found.items[i]` (handlers.invoice_buttons).
    """
    typed = escape(text)
    if not found.items:
        return [
            section(
                f"No invoice matches “{typed}”: none has that number, customer or amount. "
                f"`{COMMAND} sent` lists the latest emails."
            )
        ]
    shown = len(found.items)
    more = f" · the newest {shown} shown: add to the text to narrow it" if found.total_count > shown else ""
    count = f"{found.total_count} invoice" + ("" if found.total_count == 1 else "s")
    blocks: list[Block] = [
        {"type": "header", "text": plain_text("Invoices found", 150)},
        context_block(f"{count} matching “{typed}”{more}"),
    ]
    for item, row in zip(found.items, buttons, strict=True):
        blocks += [section(found_line(item, locale=locale)), row]
    return blocks[:MAX_BLOCKS]
