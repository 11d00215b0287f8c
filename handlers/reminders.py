"""`/invoices customer NAME` and its buttons: pause or resume a customer's reminders, a promise to pay,
mark an invoice disputed, lift a dispute, turn one invoice's reminders on or off.

Every change goes through services.reminders.stop_requests (who may, is the invoice open, then the
audited stops.py service). Modals carry only the customer's reference in `private_metadata`; it is
looked up again on submit, so a forged one names nothing of another organisation. A refused
submission keeps the modal with the sentence under the field; a done one turns into the outcome and
the customer as it now stands. *Resume*, *Lift dispute* and *Turn reminders on/off* act at once and
replace the message.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.elements import MAX_BLOCKS, context_block, escape
from handlers.blocks.reminders import (
    DISPUTE,
    PAUSE,
    PROMISE,
    customer_blocks,
    dispute_modal,
    done_view,
    matches_blocks,
    pause_modal,
    promise_modal,
)
from handlers.context import SessionFactory, UnitsOfWork, Workplace
from handlers.errors import OnField, answering_errors
from handlers.ids import COMMAND, ActionId, BlockId, CallbackId
from handlers.parsing import (
    actor_of,
    customer_query,
    parse_invoices_command,
    stop_button_value,
    switch_button_value,
)
from handlers.review_policy import SendPolicy
from services.errors import InvalidInput
from services.reminders import stop_requests
from services.reminders.overview import CustomerOverview, find_customers, overview_by_ref


async def asks_for_customer(command: dict[str, Any]) -> bool:
    """`/invoices customer …`: this module's listener takes it; every other subcommand is commands.py's."""
    return parse_invoices_command(command.get("text")).subcommand == "customer"


def _asker(body: dict[str, Any], workplace: Workplace, send_policy: SendPolicy) -> stop_requests.Asker:
    return stop_requests.Asker(
        rules=send_policy.rules,
        organisation_id=workplace.organisation_id,
        actor=actor_of(body).user_id,
        today=workplace.today,
    )


async def _overview(sessions: SessionFactory, workplace: Workplace, ref: str) -> CustomerOverview:
    async with sessions() as session:
        return await overview_by_ref(session, organisation_id=workplace.organisation_id, ref=ref, today=workplace.today)


@answering_errors
async def handle_customer_command(
    ack: AsyncAck, command: dict[str, Any], sessions: SessionFactory, workplace: Workplace
) -> None:
    """Answered in the ack (reads only): the customer, the list of matches, or the sentence why none."""
    text = customer_query(parse_invoices_command(command.get("text")).argument)
    async with sessions() as session:
        matches = await find_customers(session, organisation_id=workplace.organisation_id, text=text)
        if len(matches) > 1:
            found = [(customer.ref, customer.name) for customer in matches]
            await ack(response_type="ephemeral", text="Several customers match", blocks=matches_blocks(text, found))
            return
        view = await overview_by_ref(
            session, organisation_id=workplace.organisation_id, ref=matches[0].ref, today=workplace.today
        )
    blocks = customer_blocks(view, locale=workplace.locale)
    await ack(response_type="ephemeral", text=f"Reminders for {view.name}", blocks=blocks)


@answering_errors
async def handle_customer_button(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
) -> None:
    """*Pause reminders*, *Promise to pay*, *Mark disputed*: open the modal for the customer the button names."""
    await ack()
    view = await _overview(sessions, workplace, str(action.get("value") or ""))
    kind = action.get("action_id")
    if kind == ActionId.CUSTOMER_PAUSE:
        modal = pause_modal(view, tomorrow=workplace.today + timedelta(days=1))
    elif kind == ActionId.CUSTOMER_PROMISE:
        modal = promise_modal(view, locale=workplace.locale)
    else:
        modal = dispute_modal(view, locale=workplace.locale)
    if kind != ActionId.CUSTOMER_PAUSE and not view.invoices:
        raise InvalidInput(f"{view.name} has no open invoice any more; run {COMMAND} customer {view.ref} again.")
    await client.views_open(trigger_id=body["trigger_id"], view=modal)


@answering_errors
async def handle_resume_button(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    respond: AsyncRespond,
    units: UnitsOfWork,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """*Resume reminders*: the pause ends now; the message shows the customer again."""
    await ack()
    ref = str(action.get("value") or "")
    await stop_requests.pause_reminders(units, _asker(body, workplace, send_policy), customer_ref=ref, until=None)
    await _replace(respond, sessions, workplace, ref, "Reminders resumed.")


@answering_errors
async def handle_lift_button(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    respond: AsyncRespond,
    units: UnitsOfWork,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """*Lift dispute* on an invoice row: reminders climb its ladder again; the message shows the customer again."""
    await ack()
    ref, number = stop_button_value(str(action.get("value") or ""))
    await stop_requests.lift(units, _asker(body, workplace, send_policy), number=number)
    await _replace(respond, sessions, workplace, ref, f"Dispute on {number} lifted.")


@answering_errors
async def handle_switch_button(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    respond: AsyncRespond,
    units: UnitsOfWork,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """*Turn reminders on/off* on an invoice row (on: even one marked as sent manually); the customer is shown again."""
    await ack()
    ref, number, on = switch_button_value(str(action.get("value") or ""))
    asker = _asker(body, workplace, send_policy)
    await stop_requests.switch_reminders(units, asker, customer_ref=ref, number=number, on=on)
    await _replace(respond, sessions, workplace, ref, f"Reminders for {number} turned {'on' if on else 'off'}.")


async def _replace(respond: AsyncRespond, sessions: SessionFactory, workplace: Workplace, ref: str, done: str) -> None:
    view = await _overview(sessions, workplace, ref)
    blocks = customer_blocks(view, locale=workplace.locale)
    said = f"✅ {escape(done)}"  # quotes an invoice number
    await respond(
        replace_original=True, text=said, blocks=[*blocks[:1], context_block(said), *blocks[1 : MAX_BLOCKS - 1]]
    )


def _typed(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return dict(((view.get("state") or {}).get("values") or {}).get(block_id, {}).get("value", {}))


def _day(view: dict[str, Any], block_id: str, errors: dict[str, str], missing: str) -> date | None:
    raw = str(_typed(view, block_id).get("selected_date") or "")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[block_id] = missing
        return None


@answering_errors(where=OnField(BlockId.PAUSE_UNTIL))
async def handle_pause_submission(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    units: UnitsOfWork,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    errors: dict[str, str] = {}
    until = _day(view, BlockId.PAUSE_UNTIL, errors, "Choose the last day of the pause.")
    if until is None:
        await ack(response_action="errors", errors=errors)
        return
    ref = str(view.get("private_metadata") or "")
    await stop_requests.pause_reminders(units, _asker(body, workplace, send_policy), customer_ref=ref, until=until)
    shown = await _overview(sessions, workplace, ref)
    sentence = f"Reminders to {shown.name} paused until {until.isoformat()}."
    await ack(response_action="update", view=done_view(PAUSE, sentence, shown, locale=workplace.locale))


@answering_errors(where=OnField(BlockId.PROMISE_UNTIL))
async def handle_promise_submission(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    units: UnitsOfWork,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    errors: dict[str, str] = {}
    until = _day(view, BlockId.PROMISE_UNTIL, errors, "Choose the day the customer promised to pay by.")
    number = str((_typed(view, BlockId.STOP_INVOICE).get("selected_option") or {}).get("value") or "")
    if until is None:
        await ack(response_action="errors", errors=errors)
        return
    ref = str(view.get("private_metadata") or "")
    try:
        asker = _asker(body, workplace, send_policy)
        await stop_requests.promise(units, asker, customer_ref=ref, number=number, until=until)
    except stop_requests.NotOpenInvoice as wrong:
        await ack(response_action="errors", errors={BlockId.STOP_INVOICE: str(wrong)})
        return
    shown = await _overview(sessions, workplace, ref)
    sentence = f"{number}: promised to pay by {until.isoformat()}; no reminder for it until then."
    await ack(response_action="update", view=done_view(PROMISE, sentence, shown, locale=workplace.locale))


@answering_errors(where=OnField(BlockId.DISPUTE_REASON))
async def handle_dispute_submission(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    units: UnitsOfWork,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    number = str((_typed(view, BlockId.STOP_INVOICE).get("selected_option") or {}).get("value") or "")
    reason = str(_typed(view, BlockId.DISPUTE_REASON).get("value") or "")
    ref = str(view.get("private_metadata") or "")
    try:
        asker = _asker(body, workplace, send_policy)
        await stop_requests.dispute(units, asker, customer_ref=ref, number=number, reason=reason)
    except stop_requests.NotOpenInvoice as wrong:
        await ack(response_action="errors", errors={BlockId.STOP_INVOICE: str(wrong)})
        return
    shown = await _overview(sessions, workplace, ref)
    sentence = f"{number} marked disputed; no reminder for it until the dispute is lifted."
    await ack(response_action="update", view=done_view(DISPUTE, sentence, shown, locale=workplace.locale))


def register(app: AsyncApp) -> None:
    """Registered before commands.py's listener: Bolt runs the first listener whose matchers agree."""
    app.command(COMMAND, matchers=[asks_for_customer])(handle_customer_command)
    for opens_modal in (ActionId.CUSTOMER_PAUSE, ActionId.CUSTOMER_PROMISE, ActionId.CUSTOMER_DISPUTE):
        app.action(opens_modal)(handle_customer_button)
    app.action(ActionId.CUSTOMER_RESUME)(handle_resume_button)
    app.action(ActionId.CUSTOMER_LIFT_DISPUTE)(handle_lift_button)
    app.action(ActionId.CUSTOMER_INVOICE_REMINDERS)(handle_switch_button)
    app.view(CallbackId.PAUSE_REMINDERS)(handle_pause_submission)
    app.view(CallbackId.PROMISE_TO_PAY)(handle_promise_submission)
    app.view(CallbackId.MARK_DISPUTED)(handle_dispute_submission)
