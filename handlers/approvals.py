"""*Approve* / *Reject* on an approval request in the approvers' channel.

The button value is the delivery id and nothing else; whether the clicker may decide is
the service's call (four eyes, approvers only, one decision even when two click at once).
*Approve* decides at once; *Reject* first checks the clicker may reject (a refusal is said
where they clicked, nothing opens), then opens a modal asking why: the reason is required
(an empty one is answered under the field) and goes into the decision, its audit entry and the
request's messages. The request message itself is rewritten by the notification loop from the
"approval_decided" notification the service enqueues in the same transaction, so the message
and the decision cannot disagree.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.approvals import REASON_ACTION, RejectTarget, reject_modal
from handlers.blocks.elements import escape
from handlers.blocks.review import message_view
from handlers.context import Workplace
from handlers.errors import OnField, answering_errors
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.parsing import actor_of, row_id_of
from handlers.review_policy import SendPolicy
from services.unit_of_work import UnitsOfWork
from services.use_cases import ApprovalAnswer, DecidedSend, decide_approval, may_reject

REJECTED_TITLE = "Reject the send"


def _what(decided: DecidedSend) -> str:
    """ "the send of *INV-1*", or "the reminder for *INV-1*" (a reminder is named by its first invoice)."""
    return f"{'the reminder for' if decided.reminder else 'the send of'} *{escape(decided.number)}*"


def delivery_id_of(action: dict[str, Any]) -> int:
    return row_id_of(
        action.get("value", ""), stale="This button names no send; it may be from an older version of invoicebot."
    )


@answering_errors
async def handle_approval_action(
    ack: AsyncAck,
    respond: AsyncRespond | None,  # None on App Home (no response_url): its refresh shows the decision
    body: dict[str, Any],
    action: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    decided = await decide_approval(
        units,
        send=send_policy.send,
        answer=ApprovalAnswer(
            organisation_id=workplace.organisation_id,
            delivery_id=delivery_id_of(action),
            approver=actor_of(body).user_id,
            approve=True,
        ),
    )
    text = f"✅ You approved {_what(decided)}: it is queued and goes out in a moment."
    if respond is not None:
        await respond(response_type="ephemeral", replace_original=False, text=text)


@answering_errors
async def handle_reject_action(
    ack: AsyncAck,
    respond: AsyncRespond,  # answering_errors answers a refusal through it
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Check first (a refusal is the ephemeral answer), then ask why in a modal."""
    await ack()
    delivery_id = delivery_id_of(action)
    number = await may_reject(
        units,
        send=send_policy.send,
        organisation_id=workplace.organisation_id,
        delivery_id=delivery_id,
        approver=actor_of(body).user_id,
    )
    await client.views_open(trigger_id=body["trigger_id"], view=reject_modal(RejectTarget(delivery_id, number)))


def _reason(view: dict[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(BlockId.REJECT_REASON, {})
    return str((values.get(REASON_ACTION) or {}).get("value") or "").strip()


@answering_errors(where=OnField(BlockId.REJECT_REASON))
async def handle_reject_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """The decision is one short transaction: made before the ack; any refusal shows under the reason."""
    answer = ApprovalAnswer(
        organisation_id=workplace.organisation_id,
        delivery_id=row_id_of(view.get("private_metadata"), stale="This form is from an older message."),
        approver=actor_of(body).user_id,
        approve=False,
        reason=_reason(view),
    )
    decided = await decide_approval(units, send=send_policy.send, answer=answer)
    text = f"🚫 You rejected {_what(decided)}: no email goes out. The person who asked is told why."
    await ack(response_action="update", view=message_view(REJECTED_TITLE, text))


def register(app: AsyncApp) -> None:
    app.action(ActionId.APPROVE_DELIVERY)(handle_approval_action)
    app.action(ActionId.REJECT_DELIVERY)(handle_reject_action)
    app.view(CallbackId.REJECT)(handle_reject_submission)
