"""The buttons under a delivery alert: fix the address and resend, mark as sent, open the invoice.

*Fix address & resend* opens a modal prefilled with the customer's addresses (the failed
ones named with the server's reason) and the Cc the failed send had, both editable, plus
the same questions the review modal asks: the suppression override when a recipient is
suppressed, "send again anyway" when the invoice was sent recently or may have arrived.
Submitting calls one use case (`services.alert_actions.fix_and_resend`): a bad address
comes back inline and nothing is saved; the modal's view id is the idempotency key, so a
double submit or a Slack retry creates one send. A stale alert (its problem was resolved,
or the email arrived after all) answers who resolved it and when, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import Block, _clip, _context, _plain, _section, escape
from handlers.commands import handle_show
from handlers.context import SessionFactory, Workplace
from handlers.errors import answering_errors
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.parsing import actor_of, row_id_of
from handlers.review_policy import SendPolicy
from services.addresses import split_addresses
from services.alert_actions import FixDraft, FixRequest, fix_and_resend, mark_sent_from_alert, prepare_fix
from services.db.models import utcnow
from services.deliveries import ResendNeedsConfirmation
from services.delivery_precedence import reason_in_words
from services.errors import DomainError, FieldErrors

EMAILS_ACTION = "emails"
CC_ACTION = "cc"
YES = "yes"
# The service's field names → this modal's blocks (a field with no block lands on the addresses).
FIX_FIELD_BLOCKS = {"emails": BlockId.FIX_EMAILS, "to": BlockId.FIX_EMAILS, "cc": BlockId.FIX_CC,
                    "override_suppression": BlockId.FIX_OVERRIDE}  # fmt: skip


def _delivery_id(raw: object) -> int:
    return row_id_of(raw, stale="This button is from an older message; run /invoices problems instead.")


def _checkbox(block_id: str, label: str, option_text: str, description: str | None = None) -> Block:
    option: dict[str, Any] = {"text": _plain(option_text), "value": YES}
    if description:
        option["description"] = _plain(description, 150)
    element = {"type": "checkboxes", "action_id": YES, "options": [option]}
    return {"type": "input", "block_id": block_id, "label": _plain(label), "element": element, "optional": True}


def fix_address_modal(
    draft: FixDraft,
    *,
    suppressed_typed: str | None = None,
    recent: str | None = None,
    typed: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The modal: what failed and why, To and Cc to correct, and the questions a resend needs.

    `suppressed_typed` / `recent` add a question a submission raised that the modal did not ask
    yet; `typed` is (To, Cc) as the person typed them, kept when the modal is rebuilt.
    """
    to_text, cc_text = typed if typed is not None else ("\n".join(draft.send.customer_emails), "\n".join(draft.cc))
    send = draft.send
    failed_lines = [
        f"❌ {escape(item.address)} — {escape(item.reason or reason_in_words(item.kind, item.why))}"
        + (f" (`{escape(_clip(item.why, 200))}`)" if item.why else "")
        for item in send.failed
    ]
    intro = f"Invoice *{escape(send.invoice_number)}* to *{escape(send.customer_name)}* was not delivered" + (
        ":\n" + "\n".join(failed_lines) if failed_lines else "."
    )
    blocks: list[Block] = [_section(intro)]
    recent = recent or draft.recent
    if recent:
        blocks.append(_section(f"🔁 {recent}"))
        blocks.append(_checkbox(BlockId.FIX_RESEND, "Sent recently or may have arrived", "Send again anyway"))
    blocks += [
        {
            "type": "input",
            "block_id": BlockId.FIX_EMAILS,
            "label": _plain("The customer's email addresses"),
            "hint": _plain("The To, one per line. Saving updates the customer and sends the invoice to these.", 150),
            "element": {
                "type": "plain_text_input",
                "action_id": EMAILS_ACTION,
                "multiline": True,
                "initial_value": to_text,
            },
        },
        {
            "type": "input",
            "block_id": BlockId.FIX_CC,
            "optional": True,
            "label": _plain("Cc"),
            "hint": _plain("The resend's copies, one per line (empty: no Cc).", 150),
            "element": {"type": "plain_text_input", "action_id": CC_ACTION, "multiline": True}
            | ({"initial_value": cc_text} if cc_text else {}),
        },
    ]
    reasons = [s.message for s in draft.suppressed] + ([suppressed_typed] if suppressed_typed else [])
    if reasons:
        blocks.append(
            _checkbox(
                BlockId.FIX_OVERRIDE, "Suppressed address", "Send to the suppressed address anyway", "; ".join(reasons)
            )
        )
    blocks.append(_context(f"Same subject, message and attachments as before: “{escape(_clip(send.subject, 200))}”."))
    return {
        "type": "modal",
        "callback_id": CallbackId.FIX_ADDRESS,
        "private_metadata": str(send.delivery_id),
        "title": _plain("Fix address & resend", 24),
        "submit": _plain("Save & resend", 24),
        "close": _plain("Cancel", 24),
        "blocks": blocks[:100],
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
        draft = await prepare_fix(
            session, organisation_id=workplace.organisation_id, delivery_id=delivery_id, now=utcnow()
        )
    await client.views_open(trigger_id=body["trigger_id"], view=fix_address_modal(draft))


def _typed(view: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    return dict(((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(action_id, {}))


def _ticked(view: dict[str, Any], block_id: str) -> bool:
    return bool(_typed(view, block_id, YES).get("selected_options"))


def _shown(view: dict[str, Any]) -> set[str]:
    return {str(block.get("block_id")) for block in view.get("blocks", []) if block.get("block_id")}


async def _rebuilt(
    sessions: SessionFactory, workplace: Workplace, request: FixRequest, **question: str
) -> dict[str, Any]:
    """The modal again with a new question, keeping To and Cc as typed."""
    async with sessions() as session:
        draft = await prepare_fix(
            session, organisation_id=workplace.organisation_id, delivery_id=request.delivery_id, now=utcnow()
        )
    typed = ("\n".join(request.to), "\n".join(request.cc))
    return {"response_action": "update", "view": fix_address_modal(draft, typed=typed, **question)}


async def _fix_answer(
    body: dict[str, Any], view: dict[str, Any], sessions: SessionFactory, workplace: Workplace, policy: SendPolicy
) -> dict[str, Any] | None:
    """None when the resend was asked for; else what to ack: inline errors or the modal with a new question."""
    delivery_id = _delivery_id(view.get("private_metadata"))
    shown = _shown(view)
    request = FixRequest(
        delivery_id=delivery_id,
        to=tuple(split_addresses(str(_typed(view, BlockId.FIX_EMAILS, EMAILS_ACTION).get("value") or ""))),
        cc=tuple(split_addresses(str(_typed(view, BlockId.FIX_CC, CC_ACTION).get("value") or ""))),
        requested_by=actor_of(body).user_id,
        override_suppression=_ticked(view, BlockId.FIX_OVERRIDE),
        confirm_resend=_ticked(view, BlockId.FIX_RESEND),
        idempotency_key=f"fix:{view.get('id')}" if view.get("id") else None,
    )
    try:
        async with sessions() as session:
            await fix_and_resend(
                session, organisation_id=workplace.organisation_id, request=request, rules=policy.rules,
                sending=workplace.sending, now=utcnow(), message_id_domain=policy.message_id_domain,
                verp_secret=policy.verp_secret(),
            )  # fmt: skip
    except FieldErrors as error:
        if "override_suppression" in error.errors and BlockId.FIX_OVERRIDE not in shown:
            typed = error.errors["override_suppression"]
            return await _rebuilt(sessions, workplace, request, suppressed_typed=typed)
        errors: dict[str, str] = {}
        for name, sentence in error.errors.items():
            block_id = str(FIX_FIELD_BLOCKS.get(name, BlockId.FIX_EMAILS))
            block_id = block_id if block_id in shown else BlockId.FIX_EMAILS
            errors[block_id] = _clip(f"{errors[block_id]} {sentence}" if block_id in errors else sentence, 300)
        return {"response_action": "errors", "errors": errors}
    except ResendNeedsConfirmation as error:
        if BlockId.FIX_RESEND in shown:
            return {"response_action": "errors", "errors": {BlockId.FIX_RESEND: _clip(str(error), 300)}}
        return await _rebuilt(sessions, workplace, request, recent=str(error))
    return None


async def handle_fix_address_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Save the addresses and ask for the resend, or answer inline errors and change nothing."""
    try:
        answer = await _fix_answer(body, view, sessions, workplace, send_policy)
    except DomainError as error:
        answer = {"response_action": "errors", "errors": {BlockId.FIX_EMAILS: _clip(str(error), 300)}}
    if answer is None:
        await ack()
    else:
        await ack(**answer)


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
        invoice = await mark_sent_from_alert(
            session,
            organisation_id=workplace.organisation_id,
            delivery_id=delivery_id,
            actor=actor,
            rules=send_policy.rules,
            now=utcnow(),
        )
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
