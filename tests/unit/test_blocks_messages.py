"""Block builders for the notification channel and the modals: a send's status, its alert, an approval request.

Built from plain data, no server and no database; the assertions read what a person reads
(texts, buttons, their action ids and values) and check that user text arrives escaped.
"""

from __future__ import annotations

from typing import Any

import pytest

from handlers.blocks.approvals import approval_decided_message, approval_request_message
from handlers.blocks.review import loading_view, message_view, queued_words, working_view
from handlers.blocks.status import alert_buttons, status_message
from handlers.ids import ActionId, BlockId
from tests.harness.reading import texts
from tests.harness.status_views import CREATED, a_send

HOSTILE = "<!channel> *pay*"
HOSTILE_SHOWN = "&lt;!channel&gt; ∗pay∗"


def buttons_of(block: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, action id, value) of each button, as a person sees them and as a click sends them."""
    return [(e["text"]["text"], e["action_id"], e["value"]) for e in block["elements"] if e["type"] == "button"]


def test_a_queued_send_says_so_under_its_invoice_and_recipients() -> None:
    text, blocks = status_message(a_send(cc=("boss@acme.example",)))

    heading, line, people, _timeline = texts(blocks)
    assert heading == "*Invoice INV-0001* · Acme Corp · €120.00\nTo: ap@acme.example · Cc: boss@acme.example"
    assert line == "⏳ Queued"
    assert people == "Requested by <@U0ALICE>"
    assert text == "Invoice INV-0001 to ap@acme.example: ⏳ Queued"


def test_an_accepted_send_quotes_the_servers_reply_and_who_approved_it() -> None:
    _text, blocks = status_message(a_send(status="accepted", smtp_reply="250 2.0.0 Ok", approved_by="U0BOB"))

    _heading, line, people, _timeline = texts(blocks)
    assert line == "✅ Sent to ap@acme.example — accepted by the mail server: 250 2.0.0 Ok"
    assert people == "Requested by <@U0ALICE> · approved by <@U0BOB>"


@pytest.mark.parametrize(
    ("status", "offered"), [("queued", False), ("accepted", True), ("opened", True), ("bounced", False)]
)
def test_a_send_that_went_out_offers_record_payment_under_its_status(status: str, offered: bool) -> None:
    """Once the invoice is out, being paid is its next step: the status message carries the button."""
    _text, blocks = status_message(a_send(status=status))

    actions = [button for block in blocks if block["type"] == "actions" for button in buttons_of(block)]
    payment = [button for button in actions if button[1] == "invoice_record_payment"]
    assert payment == ([("Record payment", "invoice_record_payment", "INV-0001")] if offered else [])


def test_customer_text_in_a_status_message_and_its_fallback_is_escaped() -> None:
    text, blocks = status_message(a_send(customer_name=HOSTILE, invoice_number=HOSTILE, to=(HOSTILE,)))

    heading = texts(blocks)[0]
    assert heading == f"*Invoice {HOSTILE_SHOWN}* · {HOSTILE_SHOWN} · €120.00\nTo: {HOSTILE_SHOWN}"
    assert "<!channel>" not in text and text.startswith(f"Invoice {HOSTILE_SHOWN} to {HOSTILE_SHOWN}: ")


def test_an_alert_offers_fix_mark_and_open_with_only_ids_in_their_values() -> None:
    block = alert_buttons(a_send(status="failed"), "failed")

    assert block["block_id"] == f"{BlockId.DELIVERY_ALERT}:42"
    assert buttons_of(block) == [
        ("Fix address & resend", ActionId.FIX_ADDRESS_AND_RESEND, "42"),
        ("Mark as sent manually", ActionId.MARK_SENT_MANUALLY, "42"),
        ("Open invoice", ActionId.OPEN_INVOICE, "INV-0001"),
    ]


def test_a_silent_email_alert_offers_no_mark_as_sent_its_invoice_is_sent_already() -> None:
    block = alert_buttons(a_send(status="accepted"), "silent")

    assert buttons_of(block) == [
        ("Fix address & resend", ActionId.FIX_ADDRESS_AND_RESEND, "42"),
        ("Open invoice", ActionId.OPEN_INVOICE, "INV-0001"),
    ]


def test_an_approval_request_gives_the_facts_and_approve_or_reject() -> None:
    send = a_send(status="awaiting_approval", subject=f"Invoice {HOSTILE}", bcc=("audit@example.com",))
    text, blocks = approval_request_message(send)

    title, facts = texts(blocks)
    assert title == "✋ *Approval needed* to send invoice *INV-0001*"
    assert facts == (
        "*Invoice:* INV-0001 · Acme Corp · *€120.00*\n*To:* ap@acme.example\n*Bcc:* audit@example.com\n"
        f"*Subject:* Invoice {HOSTILE_SHOWN}\n*Requested by* <@U0ALICE>"
    )
    assert blocks[-1]["block_id"] == f"{BlockId.APPROVAL_ACTIONS}:42"
    assert buttons_of(blocks[-1]) == [
        ("Approve", ActionId.APPROVE_DELIVERY, "42"),
        ("Reject", ActionId.REJECT_DELIVERY, "42"),
    ]
    assert text == "Approval needed: send INV-0001 (€120.00) to Acme Corp"


def test_a_rejected_request_says_who_rejected_and_why_escaped_and_has_no_buttons() -> None:
    decided = a_send(
        status="rejected",
        approval_decision="rejected",
        approval_decided_by="U0BOB",
        approval_decided_at=CREATED,
        rejected_reason=f"wrong amount {HOSTILE}",
    )
    text, blocks = approval_decided_message(decided)

    assert all(block["type"] != "actions" for block in blocks)
    outcome = texts(blocks)[-1]
    assert outcome.startswith("🚫 Rejected by <@U0BOB> at ")
    assert outcome.endswith(f": wrong amount {HOSTILE_SHOWN}. No email was sent.")
    assert text == f"INV-0001: {outcome}"


def test_the_review_modals_that_only_say_something() -> None:
    assert texts(loading_view()["blocks"]) == ["⏳ Loading…"]
    assert texts(working_view("Send invoice", "Sending INV-0001…")["blocks"]) == ["⏳ Sending INV-0001…"]
    done = message_view("Send invoice", "✅ Done")
    assert (texts(done["blocks"]), done["close"]["text"]) == (["✅ Done"], "Done")


def test_what_a_person_reads_once_a_send_is_asked_for() -> None:
    queued = queued_words(HOSTILE, awaiting_approval=False, approvers=[], preview=True)
    waiting = queued_words("INV-0001", awaiting_approval=True, approvers=["U0BOB", "U0CAROL"], preview=False)

    assert queued == (
        f"✅ *{HOSTILE_SHOWN}* is queued: it goes out in a moment.\n📬 A preview is on its way to your email address."
        "\nThe notification channel follows what happens to the email."
    )
    assert waiting.startswith(
        "✋ *INV-0001* is waiting for approval by <@U0BOB>, <@U0CAROL>. It goes out once approved."
    )
