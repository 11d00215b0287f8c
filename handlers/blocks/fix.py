"""The *Fix address & resend* modal: a pure function of the failed send (services.tracking.alert_actions.FixDraft)."""

from __future__ import annotations

from typing import Any

from handlers.blocks.elements import Block, clip, context_block, escape, plain_text, section
from handlers.ids import BlockId, CallbackId
from services.tracking.alert_actions import FixDraft
from services.tracking.precedence import reason_in_words

EMAILS_ACTION = "emails"
CC_ACTION = "cc"
YES = "yes"
# The service's field names → this modal's blocks (a field with no block lands on the addresses).
FIX_FIELD_BLOCKS = {"emails": BlockId.FIX_EMAILS, "to": BlockId.FIX_EMAILS, "cc": BlockId.FIX_CC,
                    "override_suppression": BlockId.FIX_OVERRIDE}  # fmt: skip


def _checkbox(block_id: str, label: str, option_text: str, description: str | None = None) -> Block:
    option: dict[str, Any] = {"text": plain_text(option_text), "value": YES}
    if description:
        option["description"] = plain_text(description, 150)
    element = {"type": "checkboxes", "action_id": YES, "options": [option]}
    return {"type": "input", "block_id": block_id, "label": plain_text(label), "element": element, "optional": True}


def fix_address_modal(
    draft: FixDraft,
    *,
    suppressed_typed: str | None = None,
    recent: str | None = None,
    typed: tuple[str, str] | None = None,
    problems: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The modal: what failed and why, To and Cc to correct, and the questions a resend needs.

    `suppressed_typed` / `recent` add a question a submission raised that the modal did not ask
    yet; `typed` is (To, Cc) as the person typed them, kept when the modal is rebuilt;
    `problems` are what stopped the last submission (said at the top, after the ack).
    """
    to_text, cc_text = typed if typed is not None else ("\n".join(draft.send.customer_emails), "\n".join(draft.cc))
    send = draft.send
    failed_lines = [
        f"❌ {escape(item.address)} — {escape(item.reason or reason_in_words(item.kind, item.why))}"
        + (f" (`{escape(clip(item.why, 200))}`)" if item.why else "")
        for item in send.failed
    ]
    intro = f"Invoice *{escape(send.invoice_number)}* to *{escape(send.customer_name)}* was not delivered" + (
        ":\n" + "\n".join(failed_lines) if failed_lines else "."
    )
    blocks: list[Block] = [section(intro)]
    if problems:
        notice = section("\n".join(f"⚠️ {escape(problem)}" for problem in problems))
        blocks.append({**notice, "block_id": BlockId.FIX_NOTICE})
    recent = recent or draft.recent
    if recent:
        blocks.append(section(f"🔁 {recent}"))
        blocks.append(_checkbox(BlockId.FIX_RESEND, "Sent recently or may have arrived", "Send again anyway"))
    blocks += [
        {
            "type": "input",
            "block_id": BlockId.FIX_EMAILS,
            "label": plain_text("The customer's email addresses"),
            "hint": plain_text(
                "The To, one per line. Saving updates the customer and sends the invoice to these.", 150
            ),
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
            "label": plain_text("Cc"),
            "hint": plain_text("The resend's copies, one per line (empty: no Cc).", 150),
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
    blocks.append(
        context_block(f"Same subject, message and attachments as before: “{escape(clip(send.subject, 200))}”.")
    )
    return {
        "type": "modal",
        "callback_id": CallbackId.FIX_ADDRESS,
        "private_metadata": str(send.delivery_id),
        "title": plain_text("Fix address & resend", 24),
        "submit": plain_text("Save & resend", 24),
        "close": plain_text("Cancel", 24),
        "blocks": blocks[:100],
    }
