"""*View email as sent* under `/invoices show`: the invoice's latest email exactly as the mail server
received it — headers, text, attachment names and sizes — in a modal; the people who may send
also get a short-lived signed link to download the .eml (web/sent_emails.py serves it)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.elements import Block, context_block, escape, plain_text, section
from handlers.context import SessionFactory, Workplace
from handlers.errors import answering_errors
from handlers.ids import ActionId, BlockId
from handlers.review_policy import SendPolicy
from services.invoicing.invoices import get_invoice
from services.sending.sent_messages import SentEmailView, email_download_path, latest_sent_message

MAX_NUMBER_CHARS = 64
EMAIL_LINK_MINUTES = 10
TEXT_CHUNK = 2800  # a section holds 3,000 characters; the text goes in several
TEXT_BLOCKS = 20
NOTHING_KEPT = "No email of this invoice was kept as sent (none was handed to the mail server, or it was purged)."


def sent_email_button_blocks(number: str) -> list[Block]:
    """The *View email as sent* button shown under an invoice that was emailed."""
    button = {
        "type": "button",
        "action_id": ActionId.VIEW_SENT_EMAIL,
        "text": plain_text("View email as sent"),
        "value": number[:MAX_NUMBER_CHARS],
    }
    return [{"type": "actions", "block_id": BlockId.INVOICE_SENT_EMAIL_ACTIONS, "elements": [button]}]


def _size(size: int) -> str:
    return f"{size} bytes" if size < 1024 else f"{size / 1024:.1f} KB"


def sent_email_modal(number: str, email: SentEmailView, *, download_url: str | None) -> dict[str, Any]:
    """The modal: headers, the text part, the attachments; the download link for staff."""
    headers = "\n".join(f"*{name}:* {escape(value)}" for name, value in email.headers)
    blocks: list[Block] = [section(f"*Email of {escape(number)} as sent* ({_size(email.size)})"), section(headers)]
    text = email.text.strip() or "(no text part)"
    chunks = [text[i : i + TEXT_CHUNK] for i in range(0, len(text), TEXT_CHUNK)][:TEXT_BLOCKS]
    blocks += [{"type": "divider"}, *(section(f"```{escape(chunk)}```") for chunk in chunks), {"type": "divider"}]
    attached = "\n".join(f"📎 {escape(a.name)} — {_size(a.size)}" for a in email.attachments) or "No attachments."
    blocks.append(section(f"*Attachments*\n{attached}"))
    if download_url is not None:
        blocks.append(
            section(f"<{download_url}|Download the .eml> (exactly the bytes the mail server received; "
                    f"the link works for {EMAIL_LINK_MINUTES} minutes)")
        )  # fmt: skip
    else:
        blocks.append(context_block("Only the people who may send invoices can download the .eml."))
    return {
        "type": "modal",
        "title": plain_text("Email as sent", 24),
        "close": plain_text("Close", 24),
        "blocks": blocks,
    }


def nothing_kept_modal(number: str) -> dict[str, Any]:
    blocks = [section(f"*{escape(number)}*"), section(NOTHING_KEPT)]
    return {
        "type": "modal",
        "title": plain_text("Email as sent", 24),
        "close": plain_text("Close", 24),
        "blocks": blocks,
    }


@answering_errors
async def handle_view_sent_email(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    action = (body.get("actions") or [{}])[0]  # the button clicked
    number = str(action.get("value") or "")[:MAX_NUMBER_CHARS]
    user = str((body.get("user") or {}).get("id") or "")
    async with sessions() as session:
        invoice = await get_invoice(session, organisation_id=workplace.organisation_id, number=number)
        email = await latest_sent_message(session, organisation_id=workplace.organisation_id, invoice_id=invoice.id)
    if email is None:
        await client.views_open(trigger_id=body["trigger_id"], view=nothing_kept_modal(invoice.number))
        return
    url = None
    if user and send_policy.rules.may_send(user):
        path = email_download_path(
            delivery_id=email.delivery_id,
            now=send_policy.send.clock(),
            minutes=EMAIL_LINK_MINUTES,
            secret=send_policy.send.verp_secret(),
        )
        url = send_policy.public_link(path)
    await client.views_open(
        trigger_id=body["trigger_id"], view=sent_email_modal(invoice.number, email, download_url=url)
    )


def register(app: AsyncApp) -> None:
    app.action(ActionId.VIEW_SENT_EMAIL)(handle_view_sent_email)
