"""The approval request in the approvers' channel, before and after someone decides.

Pure builders of a `DeliveryStatusView`, called by the notification loop when it posts an
"approval_request" notification and when it rewrites that message for "approval_decided"
(`chat.update`). The buttons carry only the delivery id: who may decide is checked by the
service when the click arrives, never trusted from the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handlers.blocks.elements import Block, escape, plain_text, section, who
from handlers.ids import ActionId, BlockId, CallbackId
from services.db.models import DeliveryKind
from services.formatting import format_moment
from services.tracking.status import DeliveryStatusView

MAX_SHOWN_RECIPIENTS = 10


def _addresses(addresses: tuple[str, ...]) -> str:
    shown = ", ".join(addresses[:MAX_SHOWN_RECIPIENTS])
    more = len(addresses) - MAX_SHOWN_RECIPIENTS
    return escape(shown + (f" and {more} more" if more > 0 else "")) or "nobody"


def _at(moment: datetime | None, locale: str) -> str:
    return "an unknown time" if moment is None else format_moment(moment, locale)


def _sending(view: DeliveryStatusView) -> str:
    """What the approver lets out: "invoice *INV-1*", or "the reminder for *INV-1, INV-2*"."""
    if view.kind == DeliveryKind.REMINDER:
        return f"the reminder for *{escape(', '.join(view.reminder_numbers) or view.invoice_number)}*"
    return f"invoice *{escape(view.invoice_number)}*"


def _facts(view: DeliveryStatusView) -> str:
    if view.kind == DeliveryKind.REMINDER:  # its amounts are read again when it goes (services/sending/reminder_job.py)
        numbers = ", ".join(view.reminder_numbers) or view.invoice_number
        what = f"*Reminder:* {escape(view.customer_name)} · {escape(numbers)}"
    else:
        what = f"*Invoice:* {escape(view.invoice_number)} · {escape(view.customer_name)} · *{view.amount}*"
    lines = [what, f"*To:* {_addresses(view.to)}"]
    if view.cc:
        lines.append(f"*Cc:* {_addresses(view.cc)}")
    if view.bcc:
        lines.append(f"*Bcc:* {_addresses(view.bcc)}")
    lines.append(f"*Subject:* {escape(view.subject[:300])}")
    lines.append(f"*Requested by* {who(view.requested_by)}")
    return "\n".join(lines)


def _asked(reason: str | None) -> list[Block]:
    return [section(f"🛂 *Approval asked:* {escape(reason[:1000])}")] if reason else []


def approval_request_message(view: DeliveryStatusView, reason: str | None = None) -> tuple[str, list[Block]]:
    """ "Please approve": the facts an approver needs and *Approve* / *Reject* (value = delivery id).

    `reason`: why approval is asked when the risk rule asked for it (services/sending/risk.py's
    sentence, the one the review modal showed), e.g. "new domain acme.example for Acme Corp"."""
    text = f"Approval needed: send {escape(view.invoice_number)} ({view.amount}) to {escape(view.customer_name)}"
    if view.kind == DeliveryKind.REMINDER:
        text = f"Approval needed: send {_sending(view).replace('*', '')} to {escape(view.customer_name)}"
    blocks: list[Block] = [
        section(f"✋ *Approval needed* to send {_sending(view)}"),
        *_asked(reason),
        section(_facts(view)),
        approval_buttons(view.delivery_id),
    ]
    return text, blocks


def approval_buttons(delivery_id: int) -> Block:
    """*Approve* / *Reject* of one waiting send (value = its id), wherever Slack shows it: the request
    message and App Home; handlers.approvals answers both."""
    value = str(delivery_id)
    return {
        "type": "actions",
        "block_id": f"{BlockId.APPROVAL_ACTIONS}:{value}",
        "elements": [
            {
                "type": "button",
                "action_id": ActionId.APPROVE_DELIVERY,
                "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                "style": "primary",
                "value": value,
            },
            {
                "type": "button",
                "action_id": ActionId.REJECT_DELIVERY,
                "text": {"type": "plain_text", "text": "Reject", "emoji": True},
                "style": "danger",
                "value": value,
            },
        ],
    }


def decision_words(view: DeliveryStatusView) -> str:
    """ "Approved by <@U2> at …", "Rejected by …: reason", or what ended the request otherwise."""
    by, when = who(view.approval_decided_by), _at(view.approval_decided_at, view.locale)
    if view.approval_decision == "approved":
        return f"✅ Approved by {by} at {when}"
    if view.approval_decision == "rejected":
        reason = f": {escape(view.rejected_reason[:500])}" if view.rejected_reason else ""
        return f"🚫 Rejected by {by} at {when}{reason}. No email was sent."
    if view.status == "cancelled":
        return "Cancelled before anyone decided. No email was sent."
    return "⏳ Still waiting for approval"


def approval_decided_message(view: DeliveryStatusView, reason: str | None = None) -> tuple[str, list[Block]]:
    """The request message once decided: the same facts (and why it was asked) and who decided when,
    without buttons."""
    outcome = decision_words(view)
    text = f"{escape(view.invoice_number)}: {outcome}"
    blocks: list[Block] = [
        section(f"Approval request to send {_sending(view)}"),
        *_asked(reason),
        section(_facts(view)),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": outcome}]},
    ]
    return text, blocks


REASON_ACTION = "reason"
MAX_REASON_CHARS = 500


def reject_modal(view: RejectTarget) -> dict[str, Any]:
    """*Reject*: why (required; the requester reads it in the request's message). Carries the send's id."""
    reason = {
        "type": "input",
        "block_id": BlockId.REJECT_REASON,
        "label": plain_text("Why do you reject it?"),
        "hint": plain_text("The person who asked for the send reads this.", 150),
        "element": {
            "type": "plain_text_input",
            "action_id": REASON_ACTION,
            "multiline": True,
            "max_length": MAX_REASON_CHARS,
        },
    }
    return {
        "type": "modal",
        "callback_id": CallbackId.REJECT,
        "private_metadata": str(view.delivery_id),
        "title": plain_text("Reject the send", 24),
        "submit": plain_text("Reject", 24),
        "close": plain_text("Cancel", 24),
        "blocks": [section(f"No email of *{escape(view.number)}* goes out if you reject it."), reason],
    }


@dataclass(frozen=True)
class RejectTarget:
    """The waiting send the *Reject* modal is about."""

    delivery_id: int
    number: str
