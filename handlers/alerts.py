"""The buttons under a delivery alert: fix the address and resend, mark as sent, open the invoice.

*Fix address & resend* opens a modal prefilled with the customer's addresses (the failed
ones named with the server's reason). Saving it updates the customer and asks for a new
send of the same subject, message and attachments, in one unit of work: a bad address
comes back inline and nothing is saved; the modal's view id is the idempotency key, so
a double submit or a Slack retry creates one send.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import Block, _clip, _context, _plain, _section, escape
from handlers.blocks_status import reason_in_words
from handlers.commands import handle_show
from handlers.context import SessionFactory, Workplace
from handlers.errors import answering_errors
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.parsing import actor_of
from handlers.review_policy import SendPolicy
from services.addresses import split_addresses
from services.customers import FailedSend, failed_send, replace_customer_emails
from services.db.models import Attachments, utcnow
from services.deliveries import DeliveryRequest, request_delivery
from services.errors import DomainError, FieldErrors, InvalidInput
from services.invoices import mark_sent_manually

EMAILS_ACTION = "emails"


def _delivery_id(raw: object) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise InvalidInput("This button is from an older message; run /invoices problems instead.") from None


def fix_address_modal(send: FailedSend) -> dict[str, Any]:
    """The modal: what failed and why, and the customer's addresses to correct (one per line)."""
    failed_lines = [
        f"❌ {escape(item.address)} — {escape(item.reason or reason_in_words(item.why, kind=item.kind))}"
        + (f" (`{escape(_clip(item.why, 200))}`)" if item.why else "")
        for item in send.failed
    ]
    intro = f"Invoice *{escape(send.invoice_number)}* to *{escape(send.customer_name)}* was not delivered" + (
        ":\n" + "\n".join(failed_lines) if failed_lines else "."
    )
    blocks: list[Block] = [
        _section(intro),
        {
            "type": "input",
            "block_id": BlockId.FIX_EMAILS,
            "label": _plain("The customer's email addresses"),
            "hint": _plain("One per line. Saving updates the customer and sends the invoice again to these.", 150),
            "element": {
                "type": "plain_text_input",
                "action_id": EMAILS_ACTION,
                "multiline": True,
                "initial_value": "\n".join(send.customer_emails),
            },
        },
        _context(f"Same subject, message and attachments as before: “{escape(_clip(send.subject, 200))}”."),
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.FIX_ADDRESS,
        "private_metadata": str(send.delivery_id),
        "title": _plain("Fix address & resend", 24),
        "submit": _plain("Save & resend", 24),
        "close": _plain("Cancel", 24),
        "blocks": blocks,
    }


@answering_errors
async def handle_fix_address_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    action: dict[str, Any],
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
) -> None:
    await ack()
    delivery_id = _delivery_id(action.get("value"))
    async with sessions() as session:
        send = await failed_send(session, organisation_id=workplace.organisation_id, delivery_id=delivery_id)
    await client.views_open(trigger_id=body["trigger_id"], view=fix_address_modal(send))


async def handle_fix_address_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Save the addresses and ask for the resend, or answer inline errors and change nothing."""
    actor = actor_of(body).user_id
    typed = ((view.get("state") or {}).get("values") or {}).get(BlockId.FIX_EMAILS, {}).get(EMAILS_ACTION, {})
    emails = split_addresses(str(typed.get("value") or ""))
    try:
        delivery_id = _delivery_id(view.get("private_metadata"))
        async with sessions() as session:
            send = await failed_send(session, organisation_id=workplace.organisation_id, delivery_id=delivery_id)
            customer = await replace_customer_emails(
                session, organisation_id=workplace.organisation_id, customer_id=send.customer_id, emails=emails,
                actor=actor, rules=send_policy.rules,
            )  # fmt: skip
            await request_delivery(
                session,
                organisation_id=workplace.organisation_id,
                request=DeliveryRequest(
                    invoice_number=send.invoice_number,
                    to=tuple(customer.emails),
                    cc=send.cc,
                    bcc=send.bcc,
                    subject=send.subject,
                    message=send.message,
                    language=send.language,
                    attachments=Attachments(send.attachments),
                    requested_by=actor,
                    idempotency_key=f"fix:{view.get('id')}" if view.get("id") else None,
                    confirm_resend=True,
                ),
                rules=send_policy.rules,
                sending=workplace.sending,
                now=utcnow(),
                message_id_domain=send_policy.message_id_domain,
                verp_secret=send_policy.verp_secret(),
            )
            await session.commit()
    except FieldErrors as error:
        await ack(response_action="errors", errors={BlockId.FIX_EMAILS: _clip("; ".join(error.errors.values()), 300)})
        return
    except DomainError as error:
        await ack(response_action="errors", errors={BlockId.FIX_EMAILS: _clip(str(error), 300)})
        return
    await ack()


@answering_errors
async def handle_mark_sent_manually_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    action: dict[str, Any],
    body: dict[str, Any],
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    actor = actor_of(body).user_id
    delivery_id = _delivery_id(action.get("value"))
    async with sessions() as session:
        send = await failed_send(session, organisation_id=workplace.organisation_id, delivery_id=delivery_id)
        invoice = await mark_sent_manually(
            session,
            organisation_id=workplace.organisation_id,
            number=send.invoice_number,
            actor=actor,
            rules=send_policy.rules,
            note=f"after send {delivery_id} was {send.status}",
        )
        await session.commit()
    await respond(
        response_type="ephemeral",
        replace_original=False,
        text=f"{escape(invoice.number)} marked as sent",
        blocks=[_section(f"✅ <@{actor}> marked *{escape(invoice.number)}* as sent. No email was sent.")],
    )


@answering_errors
async def handle_open_invoice_action(
    ack: AsyncAck, respond: AsyncRespond, action: dict[str, Any], sessions: SessionFactory, workplace: Workplace
) -> None:
    """The same summary as `/invoices show NUMBER`, only for the person who clicked."""
    await handle_show(ack, respond, number=str(action.get("value") or ""), sessions=sessions, workplace=workplace)


def register(app: AsyncApp) -> None:
    app.action(ActionId.FIX_ADDRESS_AND_RESEND)(handle_fix_address_action)
    app.action(ActionId.MARK_SENT_MANUALLY)(handle_mark_sent_manually_action)
    app.action(ActionId.OPEN_INVOICE)(handle_open_invoice_action)
    app.view(CallbackId.FIX_ADDRESS)(handle_fix_address_submission)
