"""A reminder's email in the channel: its status message and alert name the reminder and its invoices,
and offer nothing that would act on the invoice instead (pure Block Kit builders, no Slack)."""

from __future__ import annotations

from handlers.blocks.approvals import approval_decided_message, approval_request_message
from handlers.blocks.status import delivery_alert_message, delivery_summary, status_message
from services.tracking.status import DeliveryStatusView
from tests.harness.reading import texts
from tests.harness.status_views import a_send


def a_reminder(**changes: object) -> DeliveryStatusView:
    return a_send(kind="reminder", reminder_numbers=("INV-1", "INV-2"), customer_name="Acme", **changes)


def test_a_delivered_reminder_says_reminder_to_the_customer_for_each_invoice_and_offers_no_payment_button() -> None:
    text, blocks = status_message(a_reminder(status="delivered", smtp_reply="250 ok"))

    assert text.startswith("Reminder to Acme for INV-1, INV-2 — ✅ Delivered")
    assert "*Reminder to Acme for INV-1, INV-2*" in texts(blocks)[0]
    assert not [b for b in blocks if b["type"] == "actions"]  # no *Record payment*: it is the invoice's


def test_a_cancelled_reminder_shows_the_reason_under_its_status() -> None:
    reason = "INV-1 was paid before the reminder went out."
    text, blocks = status_message(a_reminder(status="cancelled", last_error=reason))

    assert "Cancelled — nothing was sent" in text
    assert reason in " ".join(texts(blocks))


def test_a_reminders_alert_names_it_and_offers_only_open_invoice() -> None:
    payload = {"type": "failed", "recipient": "ap@acme.example", "diagnostic": "550 5.1.1 No such user"}
    text, blocks = delivery_alert_message(a_reminder(status="failed"), payload)

    assert "(reminder to Acme for INV-1, INV-2)" in text
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Open invoice"]


def test_an_approval_request_for_a_reminder_names_the_reminder_and_its_invoices_not_an_invoice_amount() -> None:
    text, blocks = approval_request_message(a_reminder(status="awaiting_approval"))

    assert text == "Approval needed: send the reminder for INV-1, INV-2 to Acme"
    assert texts(blocks)[0] == "✋ *Approval needed* to send the reminder for *INV-1, INV-2*"
    assert texts(blocks)[1].split("\n")[0] == "*Reminder:* Acme · INV-1, INV-2"  # its amounts are read when it goes
    _, decided = approval_decided_message(a_reminder(status="queued", approval_decision="approved"))
    assert texts(decided)[0] == "Approval request to send the reminder for *INV-1, INV-2*"


def test_show_lists_a_reminders_email_as_a_reminder_not_as_the_invoices_own_email() -> None:
    assert delivery_summary(a_reminder(status="delivered")).startswith("*Reminder email to ap@acme.example*\n")
    assert delivery_summary(a_send(status="delivered")).startswith("*Email to ap@acme.example*\n")
