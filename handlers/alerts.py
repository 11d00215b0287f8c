"""The buttons under a delivery alert: fix the address and resend, mark as sent, open the invoice.

*Fix address & resend* opens a modal prefilled with the customer's addresses (the failed
ones named with the server's reason) and the Cc the failed send had, both editable, plus
the same questions the review modal asks: the suppression override when a recipient is
suppressed, "send again anyway" when the invoice was sent recently or may have arrived.
Submitting checks the typed addresses at once (a malformed one comes back inline and
nothing is saved), then acks "⏳ Saving…" and calls one use case after the ack
(`services.use_cases.fix_address_and_resend`, handlers.after_ack): the modal then says the
outcome, or shows itself again as typed with what stopped it (suppressed, sent recently,
refused). The modal's view id is the idempotency key, so a double submit or a Slack retry
creates one send. A stale alert (its problem was resolved,
or the email arrived after all) answers who resolved it and when, and changes nothing.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.after_ack import finish_in_view, working_view
from handlers.blocks.elements import clip, escape, section
from handlers.blocks.fix import CC_ACTION, EMAILS_ACTION, FIX_FIELD_BLOCKS, YES, fix_address_modal
from handlers.blocks.review import View, message_view
from handlers.commands import handle_show
from handlers.context import SessionFactory, Workplace
from handlers.errors import OnField, answering_errors, describe_error
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.parsing import actor_of, row_id_of
from handlers.review_policy import SendPolicy
from services.email.addresses import split_addresses
from services.errors import DomainError, FieldErrors
from services.sending.checks import check_typed_addresses
from services.sending.requests import ResendNeedsConfirmation
from services.tracking.alert_actions import FixRequest, prepare_fix
from services.unit_of_work import UnitsOfWork
from services.use_cases import fix_address_and_resend, mark_sent_after_alert

FIX_TITLE = "Fix address & resend"


def _delivery_id(raw: object) -> int:
    return row_id_of(raw, stale="This button is from an older message; run /invoices problems instead.")


@answering_errors
async def handle_fix_address_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    action: dict[str, Any],
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    delivery_id = _delivery_id(action.get("value"))
    async with sessions() as session:
        draft = await prepare_fix(
            session, organisation_id=workplace.organisation_id, delivery_id=delivery_id, now=send_policy.send.clock()
        )
    await client.views_open(trigger_id=body["trigger_id"], view=fix_address_modal(draft))


def _typed(view: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    return dict(((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(action_id, {}))


def _ticked(view: dict[str, Any], block_id: str) -> bool:
    return bool(_typed(view, block_id, YES).get("selected_options"))


def _shown(view: dict[str, Any]) -> set[str]:
    return {str(block.get("block_id")) for block in view.get("blocks", []) if block.get("block_id")}


def _fix_request(body: dict[str, Any], view: dict[str, Any]) -> FixRequest:
    """The submission as a request, refused (InvalidInput, FieldErrors) on what needs no database."""
    request = FixRequest(
        delivery_id=_delivery_id(view.get("private_metadata")),
        to=tuple(split_addresses(str(_typed(view, BlockId.FIX_EMAILS, EMAILS_ACTION).get("value") or ""))),
        cc=tuple(split_addresses(str(_typed(view, BlockId.FIX_CC, CC_ACTION).get("value") or ""))),
        requested_by=actor_of(body).user_id,
        override_suppression=_ticked(view, BlockId.FIX_OVERRIDE),
        confirm_resend=_ticked(view, BlockId.FIX_RESEND),
        idempotency_key=f"fix:{view.get('id')}" if view.get("id") else None,
    )
    check_typed_addresses(emails=request.to, cc=request.cc)
    return request


def _inline_errors(errors: dict[str, str], shown: set[str]) -> dict[str, str]:
    """The service's field names → this modal's block ids (a field with no block lands on the addresses)."""
    mapped: dict[str, str] = {}
    for name, sentence in errors.items():
        block_id = str(FIX_FIELD_BLOCKS.get(name, BlockId.FIX_EMAILS))
        block_id = block_id if block_id in shown else BlockId.FIX_EMAILS
        mapped[block_id] = clip(f"{mapped[block_id]} {sentence}" if block_id in mapped else sentence, 300)
    return mapped


async def _fix_outcome(
    request: FixRequest,
    *,
    shown: set[str],
    sessions: SessionFactory,
    units: UnitsOfWork,
    workplace: Workplace,
    policy: SendPolicy,
) -> View:
    """After the ack: save and ask for the resend; the outcome, or the modal again with what to answer."""

    async def rebuilt(**question: Any) -> View:
        async with sessions() as session:
            draft = await prepare_fix(
                session,
                organisation_id=workplace.organisation_id,
                delivery_id=request.delivery_id,
                now=policy.send.clock(),
            )
        return fix_address_modal(draft, typed=("\n".join(request.to), "\n".join(request.cc)), **question)

    try:
        asked = await fix_address_and_resend(
            units, send=policy.send, organisation_id=workplace.organisation_id, sending=workplace.sending,
            request=request,
        )  # fmt: skip
    except FieldErrors as error:
        if "override_suppression" in error.errors and BlockId.FIX_OVERRIDE not in shown:
            return await rebuilt(suppressed_typed=error.errors["override_suppression"])
        return await rebuilt(problems=tuple(error.errors.values()))
    except ResendNeedsConfirmation as error:
        question = ("Tick “Send again anyway” to send it again.",) if BlockId.FIX_RESEND in shown else ()
        return await rebuilt(recent=str(error), problems=question)
    except DomainError as error:  # not allowed, or resolved meanwhile: rebuilding says so if it cannot
        return await rebuilt(problems=(describe_error(error),))
    then = "waits for approval before it goes out again." if asked.awaiting_approval else "is queued to go out again."
    text = f"✅ Addresses saved. The invoice {then}"
    return message_view(FIX_TITLE, text)


@answering_errors(where=OnField(BlockId.FIX_EMAILS))
async def handle_fix_address_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Typos inline at once; else ack "⏳ Saving…", then save and resend after the ack (handlers.after_ack)."""
    shown = _shown(view)
    try:
        request = _fix_request(body, view)
    except FieldErrors as error:
        await ack(response_action="errors", errors=_inline_errors(error.errors, shown))
        return
    await ack(response_action="update", view=working_view(FIX_TITLE, "Saving the addresses and sending again…"))
    outcome = _fix_outcome(
        request, shown=shown, sessions=sessions, units=units, workplace=workplace, policy=send_policy
    )
    nothing = "Nothing was saved or sent. Close this and press Fix address & resend on the alert again."
    await finish_in_view(
        client, view_id=str(view.get("id") or ""), title=FIX_TITLE, outcome=outcome, nothing_done=nothing
    )


@answering_errors
async def handle_mark_sent_manually_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    action: dict[str, Any],
    body: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    actor = actor_of(body).user_id
    number = await mark_sent_after_alert(
        units,
        send=send_policy.send,
        organisation_id=workplace.organisation_id,
        delivery_id=_delivery_id(action.get("value")),
        actor=actor,
    )
    await respond(
        response_type="ephemeral",
        replace_original=False,
        text=f"{escape(number)} marked as sent",
        blocks=[section(f"✅ <@{actor}> marked *{escape(number)}* as sent. No email was sent.")],
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
