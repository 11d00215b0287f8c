"""*Revoke link* under `/invoices show NUMBER`: withdraw the customer's invoice link.

The button carries a confirm dialog (Slack asks before the click is sent). The listener
acks, calls the one use case (`revoke_invoice_link`, which checks that the clicker is an
admin, audits and commits) and answers ephemerally; a refusal or an unknown invoice is
answered in a sentence by `answering_errors`, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from handlers.blocks.elements import Block, escape, notice_blocks
from handlers.context import Workplace
from handlers.errors import answering_errors
from handlers.ids import ActionId, BlockId
from handlers.parsing import actor_of
from handlers.review_policy import SendPolicy
from services.invoicing.invoices import InvoiceAct
from services.tracking.links import revoke_invoice_link
from services.unit_of_work import UnitsOfWork

MAX_NUMBER_CHARS = 64


def revoke_link_blocks(number: str) -> list[Block]:
    """The *Revoke link* button, with Slack's own confirmation dialog."""
    confirm = {
        "title": {"type": "plain_text", "text": "Revoke the invoice link?"},
        "text": {
            "type": "mrkdwn",
            "text": (
                f"Every link to *{escape(number)}* sent so far stops working: the customer sees that it "
                "was withdrawn. The next email carries a new link."
            ),
        },
        "confirm": {"type": "plain_text", "text": "Revoke link"},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    }
    button = {
        "type": "button",
        "action_id": ActionId.REVOKE_LINK,
        "text": {"type": "plain_text", "text": "Revoke link"},
        "style": "danger",
        "value": number,
        "confirm": confirm,
    }
    return [{"type": "actions", "block_id": BlockId.INVOICE_LINK_ACTIONS, "elements": [button]}]


@answering_errors
async def handle_revoke_link_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    action: dict[str, Any],
    body: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    number = str(action.get("value", ""))[:MAX_NUMBER_CHARS]
    actor = actor_of(body).user_id
    act = InvoiceAct(
        organisation_id=workplace.organisation_id,
        number=number,
        actor=actor,
        rules=send_policy.rules,
        at=send_policy.send.clock(),
    )
    revoked = await revoke_invoice_link(units, act)
    text = (
        f"🔒 <@{actor}> revoked the links sent for *{escape(revoked)}*: they now say the link was "
        "withdrawn. The next email carries a new link."
    )
    await respond(replace_original=False, response_type="ephemeral", text=text, blocks=notice_blocks(text))


def register(app: AsyncApp) -> None:
    app.action(ActionId.REVOKE_LINK)(handle_revoke_link_action)
