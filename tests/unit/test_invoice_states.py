"""`invoice_state`: the one rule of what an invoice is, as a person sees it (README, "Invoice states")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.invoicing.states import InvoiceState, LatestDelivery, invoice_state

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def latest(status: str, results: dict[str, Any] | None = None, last_error: str | None = None) -> LatestDelivery:
    return LatestDelivery(
        id=7, invoice_id=1, status=status, to=("ap@x.example",), recipient_results=results or {},
        last_error=last_error, requested_by="U1", created_at=AT, updated_at=AT,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "sent_via", "email", "state"),
    [
        ("draft", None, None, InvoiceState.DRAFT),
        ("validated", None, None, InvoiceState.READY),
        ("validated", None, latest("queued"), InvoiceState.SENDING),
        ("validated", None, latest("awaiting_approval"), InvoiceState.SENDING),
        ("sent", "email", latest("deferred"), InvoiceState.SENDING),
        ("sent", "email", latest("accepted"), InvoiceState.SENT),
        ("sent", "email", latest("opened"), InvoiceState.SENT),
        ("sent", "email", None, InvoiceState.SENT),
        ("validated", None, latest("bounced"), InvoiceState.NOT_RECEIVED),
        ("validated", None, latest("failed"), InvoiceState.NOT_RECEIVED),
        ("validated", None, latest("complained"), InvoiceState.NOT_RECEIVED),
        ("validated", None, latest("unknown"), InvoiceState.MAY_HAVE_ARRIVED),
        ("sent", "manual", latest("bounced"), InvoiceState.SENT_MANUALLY),
        ("paid", "email", latest("bounced"), InvoiceState.PAID),
        ("void", None, latest("unknown"), InvoiceState.VOID),
    ],
)
def test_the_state_is_one_function_of_the_invoice_and_its_latest_email(status, sent_via, email, state):
    assert invoice_state(status=status, sent_via=sent_via, latest=email).state == state


def test_a_bounce_names_each_failed_recipient_and_the_reason_in_words():
    email = latest(
        "bounced",
        {
            "ap@x.example": {"status": "bounced", "reply": "smtp; 550 5.1.1 <ap@x.example>: User unknown"},
            "cfo@x.example": {"status": "delivered"},
        },
    )
    view = invoice_state(status="validated", sent_via=None, latest=email)
    assert view.line == "❌ Not received: bounced to ap@x.example: the mailbox does not exist"


def test_a_refusal_at_send_time_without_recipient_results_says_why_from_the_last_error():
    email = latest("failed", last_error="550 5.7.1 refused by policy")
    assert invoice_state(status="validated", sent_via=None, latest=email).detail == (
        "refused to ap@x.example: rejected as spam or by the recipient's policy"
    )


def test_an_email_in_doubt_says_to_check_with_the_customer():
    view = invoice_state(status="validated", sent_via=None, latest=latest("unknown"))
    assert view.detail == "may have arrived — check with the customer before sending again"  # the due row's words
    assert view.line == "❓ May have arrived — check with the customer before sending again"


def test_a_refusal_with_only_a_basic_reply_code_reads_as_the_status_message_reads_it():
    email = latest("failed", {"ap@x.example": {"status": "failed", "reply": "550 Requested action not taken"}})
    assert invoice_state(status="validated", sent_via=None, latest=email).line == (
        "❌ Not received: refused to ap@x.example: the mailbox is unavailable"
    )
