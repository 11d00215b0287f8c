"""The buttons under an invoice, wherever Slack shows one (`/invoices show`, `/invoices find`):
*History*, *View email as sent* once one was handed to a server, *Revoke link* once the invoice
has a customer link, *Record payment* while it is owed."""

from __future__ import annotations

from typing import Any

from handlers.blocks.elements import Block, record_payment_button
from handlers.history import history_button_blocks
from handlers.links import revoke_link_blocks
from handlers.sent_email import sent_email_button_blocks


def invoice_button_blocks(number: str, status: str, *, emailed: bool = False) -> list[Block]:
    """One actions block per button, as `/invoices show` ends (`emailed`: an email of it was asked for)."""
    blocks = [*history_button_blocks(number)]
    if emailed:  # the one handed to the server is kept as sent
        blocks += sent_email_button_blocks(number)
    if status != "draft":  # a draft has no customer link yet
        blocks += revoke_link_blocks(number)
    if status in ("validated", "sent"):  # still owed: a payment can be recorded on it
        blocks.append(record_payment_button(number))
    return blocks


def invoice_buttons_row(number: str, status: str, *, block_id: str) -> Block:
    """The same buttons in one actions block, for a message listing several invoices."""
    elements: list[dict[str, Any]] = [
        element for block in invoice_button_blocks(number, status) for element in block["elements"]
    ]
    return {"type": "actions", "block_id": block_id, "elements": elements}
