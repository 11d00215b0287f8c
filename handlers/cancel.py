"""*Cancel* on a send's status message, while it waits for approval or is queued.

The button carries the send's id only; who may cancel (the person who asked, an approver, an
admin) and whether it is too late (the worker already took it) are the service's call, in one
conditional UPDATE. The clicker is answered ephemerally; the status message is rewritten by the
notification loop from the post the cancellation owes, in the same transaction.
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
from services.use_cases import cancel_send


@answering_errors
async def handle_cancel_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    action: dict[str, Any],
    body: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    delivery_id = row_id_of(action.get("value"), stale="This button names no send; it is from an older message.")
    actor = actor_of(body).user_id
    number = await cancel_send(
        units,
        rules=send_policy.rules,
        organisation_id=workplace.organisation_id,
        delivery_id=delivery_id,
        actor=actor,
        now=send_policy.send.clock(),
    )
    text = f"🚫 <@{actor}> cancelled the send of *{escape(number)}*: no email goes out."
    await respond(replace_original=False, response_type="ephemeral", text=text)


def register(app: AsyncApp) -> None:
    app.action(ActionId.CANCEL_DELIVERY)(handle_cancel_action)
