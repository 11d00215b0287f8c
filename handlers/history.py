"""`/invoices history NUMBER` and the *History* button under `/invoices show`: the audit trail.

Who did what to the invoice and its emails, and when, oldest first, in plain words
(services.audit_history). The answer is ephemeral: it is the asker's look at the record.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from handlers.blocks.elements import MAX_BLOCKS, Block, escape, section, who
from handlers.context import SessionFactory, Workplace
from handlers.errors import answering_errors
from handlers.ids import COMMAND, ActionId, BlockId
from services.audit_history import HistoryLine, history_of_invoice
from services.formatting import format_moment
from services.invoicing.invoices import get_invoice

MAX_NUMBER_CHARS = 64
LINES_PER_BLOCK = 10


def history_blocks(number: str, lines: list[HistoryLine], *, locale: str) -> list[Block]:
    """A header, then the lines, newest last; the oldest are left out when Slack's block cap is hit."""
    header = section(f"*History of {escape(number)}*")
    if not lines:
        return [header, section("Nothing has been recorded for this invoice yet.")]
    texts = [f"• {format_moment(line.at, locale)} — {who(line.actor)} {escape(line.what)}" for line in lines]
    chunks = ["\n".join(texts[i : i + LINES_PER_BLOCK]) for i in range(0, len(texts), LINES_PER_BLOCK)]
    if len(chunks) > MAX_BLOCKS - 2:
        chunks = chunks[-(MAX_BLOCKS - 2) :]
        header = section(f"*History of {escape(number)}* (the oldest entries are left out)")
    return [header, *(section(chunk) for chunk in chunks)]


def history_button_blocks(number: str) -> list[Block]:
    """The *History* button shown under an invoice."""
    button = {
        "type": "button",
        "action_id": ActionId.SHOW_HISTORY,
        "text": {"type": "plain_text", "text": "History"},
        "value": number[:MAX_NUMBER_CHARS],
    }
    return [{"type": "actions", "block_id": BlockId.INVOICE_HISTORY_ACTIONS, "elements": [button]}]


async def history_answer(number: str, *, sessions: SessionFactory, workplace: Workplace) -> list[Block]:
    async with sessions() as session:
        invoice = await get_invoice(session, organisation_id=workplace.organisation_id, number=number)
        lines = await history_of_invoice(session, organisation_id=workplace.organisation_id, invoice_id=invoice.id)
        shown = invoice.number
    return history_blocks(shown, lines, locale=workplace.locale)


async def handle_history_command(
    ack: AsyncAck, respond: AsyncRespond, *, number: str, sessions: SessionFactory, workplace: Workplace
) -> None:
    if not number:
        await ack(response_type="ephemeral", text=f"Which invoice? Try `{COMMAND} history INV-0001`.")
        return
    await ack()
    blocks = await history_answer(number[:MAX_NUMBER_CHARS], sessions=sessions, workplace=workplace)
    await respond(response_type="ephemeral", text=f"History of {escape(number)}", blocks=blocks)


@answering_errors
async def handle_history_action(
    ack: AsyncAck, respond: AsyncRespond, action: dict[str, Any], sessions: SessionFactory, workplace: Workplace
) -> None:
    await ack()
    number = str(action.get("value", ""))[:MAX_NUMBER_CHARS]
    blocks = await history_answer(number, sessions=sessions, workplace=workplace)
    await respond(replace_original=False, response_type="ephemeral", text=f"History of {escape(number)}", blocks=blocks)


def register(app: AsyncApp) -> None:
    app.action(ActionId.SHOW_HISTORY)(handle_history_action)
