"""Recording payments from Slack: `/invoices paid NUMBER [AMOUNT] [DATE]` and the *Record payment* modal.

Both call one use case (services.use_cases.record_a_payment → services.invoicing.payments),
which holds every rule: who may (senders, services.authorization `RECORD_PAYMENT`), no
overpayment, nothing on a draft or void invoice, paid in full closes the invoice. A refusal
is the service's sentence, ephemeral for the command and under the amount in the modal.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.elements import RECORD_PAYMENT, Block, escape, plain_text, section
from handlers.blocks.review import message_view
from handlers.context import SessionFactory, UnitsOfWork, Workplace
from handlers.errors import OnField, answering_errors
from handlers.ids import COMMAND, ActionId, BlockId, CallbackId
from handlers.parsing import actor_of, parse_invoices_command
from handlers.review_policy import SendPolicy
from services.db.models import PaymentSource
from services.errors import InvalidInput
from services.invoicing.payments import PaymentDraft, PaymentRequest, money_words, payment_draft
from services.use_cases import record_a_payment

TITLE = RECORD_PAYMENT
USAGE = f"{COMMAND} paid NUMBER [AMOUNT] [YYYY-MM-DD], e.g. {COMMAND} paid INV-0042 50.00 2026-11-20"


def parse_amount(raw: str) -> Decimal:
    """ "50", "50.00" → Decimal; anything else a sentence saying how to write it."""
    text = raw.strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or "e" in text.lower():
        hint = " (use a dot for decimals)" if "," in text else ""
        raise InvalidInput(f"{text!r} is not an amount; write it like 120.50{hint}.")
    return amount


def parse_day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"{raw.strip()!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-11-20.") from None


def parse_paid(argument: str, *, today: date) -> tuple[str, Decimal | None, date]:
    """`NUMBER [AMOUNT] [DATE]` → (number, amount or None for the balance, date or today)."""
    words = argument.split()
    if not words:
        raise InvalidInput(f"Which invoice? Try {USAGE}.")
    if len(words) > 3:
        raise InvalidInput(f"Too many words after `paid`. Try {USAGE}.")
    amount = parse_amount(words[1]) if len(words) > 1 else None
    paid_on = parse_day(words[2]) if len(words) > 2 else today
    return words[0], amount, paid_on


async def asks_to_record_payment(command: dict[str, Any]) -> bool:
    """`/invoices paid …`: this module's listener takes it; every other subcommand is commands.py's."""
    return parse_invoices_command(command.get("text")).subcommand == "paid"


@answering_errors
async def handle_paid_command(
    ack: AsyncAck, command: dict[str, Any], units: UnitsOfWork, workplace: Workplace, send_policy: SendPolicy
) -> None:
    """Answered in the ack itself (one short transaction), so the person reads the outcome at once."""
    number, amount, paid_on = parse_paid(parse_invoices_command(command.get("text")).argument, today=workplace.today)
    actor = str(command.get("user_id") or "")
    request = PaymentRequest(number=number, amount=amount, paid_on=paid_on, actor=actor, source=PaymentSource.SLACK)
    recorded = await record_a_payment(
        units, rules=send_policy.rules, organisation_id=workplace.organisation_id, request=request
    )
    await ack(response_type="ephemeral", text=f"✅ {escape(recorded.sentence)}")


def payment_modal(draft: PaymentDraft, *, today: date) -> dict[str, Any]:
    """Amount prefilled with the balance, the date (today), an optional bank reference."""
    balance = f"*{escape(draft.number)}*: total {money_words(draft.total, draft.currency)}"
    if draft.paid:
        balance += f" · Paid {money_words(draft.paid, draft.currency)}"
    balance += f" · Outstanding {money_words(draft.outstanding, draft.currency)}"
    return {
        "type": "modal",
        "callback_id": CallbackId.PAYMENT,
        "private_metadata": draft.number,
        "title": plain_text(TITLE, 24),
        "submit": plain_text("Record"),
        "close": plain_text("Cancel"),
        "blocks": [
            section(balance),
            _input(BlockId.PAYMENT_AMOUNT, f"Amount ({draft.currency})", {
                "type": "plain_text_input", "action_id": "value",
                "initial_value": str(draft.outstanding),
            }),
            _input(BlockId.PAYMENT_DATE, "Paid on", {
                "type": "datepicker", "action_id": "value", "initial_date": today.isoformat(),
            }),
            {**_input(BlockId.PAYMENT_REFERENCE, "Bank reference", {
                "type": "plain_text_input", "action_id": "value", "max_length": 140,
            }), "optional": True},
        ],
    }  # fmt: skip


def _input(block_id: str, label: str, element: dict[str, Any]) -> Block:
    return {"type": "input", "block_id": block_id, "label": plain_text(label), "element": element}


async def open_payment_modal(
    client: AsyncWebClient, *, trigger_id: str, sessions: SessionFactory, workplace: Workplace, number: str
) -> None:
    """The modal for `number`; an invoice that cannot be paid any more raises its sentence instead."""
    async with sessions() as session:
        draft = await payment_draft(session, organisation_id=workplace.organisation_id, number=number)
    await client.views_open(trigger_id=trigger_id, view=payment_modal(draft, today=workplace.today))


@answering_errors
async def handle_record_payment_button(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
) -> None:
    """*Record payment* under `/invoices show` (the due list's row menu opens the same modal)."""
    await ack()
    number = str(action.get("value") or "")
    await open_payment_modal(
        client, trigger_id=body["trigger_id"], sessions=sessions, workplace=workplace, number=number
    )


def _typed(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return dict(((view.get("state") or {}).get("values") or {}).get(block_id, {}).get("value", {}))


@answering_errors(where=OnField(BlockId.PAYMENT_AMOUNT))  # the service's sentence under the amount
async def handle_payment_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    errors: dict[str, str] = {}
    amount: Decimal | None = None
    paid_on = workplace.today
    try:
        amount = parse_amount(str(_typed(view, BlockId.PAYMENT_AMOUNT).get("value") or ""))
    except InvalidInput as error:
        errors[BlockId.PAYMENT_AMOUNT] = str(error)
    try:
        paid_on = parse_day(str(_typed(view, BlockId.PAYMENT_DATE).get("selected_date") or ""))
    except InvalidInput as error:
        errors[BlockId.PAYMENT_DATE] = str(error)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    request = PaymentRequest(
        number=str(view.get("private_metadata") or ""), amount=amount, paid_on=paid_on,
        actor=actor_of(body).user_id, source=PaymentSource.SLACK,
        reference=str(_typed(view, BlockId.PAYMENT_REFERENCE).get("value") or ""),
    )  # fmt: skip
    recorded = await record_a_payment(
        units, rules=send_policy.rules, organisation_id=workplace.organisation_id, request=request
    )
    await ack(response_action="update", view=message_view(TITLE, f"✅ {escape(recorded.sentence)}"))


def register(app: AsyncApp) -> None:
    """Registered before commands.py's listener: Bolt runs the first listener whose matchers agree."""
    app.command(COMMAND, matchers=[asks_to_record_payment])(handle_paid_command)
    app.action(ActionId.RECORD_PAYMENT)(handle_record_payment_button)
    app.view(CallbackId.PAYMENT)(handle_payment_submission)
