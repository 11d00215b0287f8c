"""*Approve* / *Reject* on an approval request in the approvers' channel.

The button value is the delivery id and nothing else; whether the clicker may decide is
the service's call (four eyes, approvers only, one decision even when two click at once).
The clicker gets an ephemeral answer; the request message itself is rewritten by the
notification loop from the "approval_decided" notification the service enqueues in the
same transaction, so the message and the decision cannot disagree.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from handlers.blocks.elements import escape
from handlers.context import Workplace
from handlers.errors import answering_errors
from handlers.ids import ActionId
from handlers.parsing import actor_of, row_id_of
from handlers.review_policy import SendPolicy
from services.unit_of_work import UnitsOfWork
from services.use_cases import decide_approval


def delivery_id_of(action: dict[str, Any]) -> int:
    return row_id_of(
        action.get("value", ""), stale="This button names no send; it may be from an older version of invoicebot."
    )


@answering_errors
async def handle_approval_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    body: dict[str, Any],
    action: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    approving = action.get("action_id") == ActionId.APPROVE_DELIVERY
    number = await decide_approval(
        units,
        send=send_policy.send,
        organisation_id=workplace.organisation_id,
        delivery_id=delivery_id_of(action),
        approver=actor_of(body).user_id,
        approve=approving,
    )
    if approving:
        text = f"✅ You approved the send of *{escape(number)}*: it is queued and goes out in a moment."
    else:
        text = f"🚫 You rejected the send of *{escape(number)}*: no email goes out."
    await respond(response_type="ephemeral", replace_original=False, text=text)


def register(app: AsyncApp) -> None:
    app.action(ActionId.APPROVE_DELIVERY)(handle_approval_action)
    app.action(ActionId.REJECT_DELIVERY)(handle_approval_action)
