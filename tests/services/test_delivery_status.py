"""Reading a send back (its story, the sent and problem lists), cancelling it, and its VERP token."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.db.models import (
    Attachments,
    Delivery,
    DeliveryEvent,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
)
from services.errors import IllegalTransition, NotAllowed
from services.sending.requests import (
    cancel_delivery,
    delivery_status_view,
    list_problem_deliveries,
    list_recent_deliveries,
    verp_token_is_genuine,
)
from tests import factories
from tests.harness.reminder_sends import queued_reminder
from tests.harness.requesting import NOW, OPEN, REQUEST, SECRET, acme_invoice, request_send

# --- reading back and cancelling ----------------------------------------------------------


async def test_status_view_tells_the_whole_story_of_a_delivery(session, org):
    await acme_invoice(session, org, amount="1234.50")
    delivery = (await request_send(session, org)).delivery
    delivery.status = DeliveryStatus.DELIVERED
    delivery.smtp_reply = "250 2.0.0 Ok: queued as ABC"
    delivery.attempts = 1
    session.add_all(
        [
            DeliveryEvent(
                organisation_id=org.id, delivery_id=delivery.id, source="smtp", type="accepted",
                occurred_at=NOW + timedelta(seconds=2), detail={"reply": "250"},
            ),
            DeliveryEvent(
                organisation_id=org.id, delivery_id=delivery.id, source="postmark", type="delivered",
                recipient="ap@acme.example", occurred_at=NOW + timedelta(seconds=9),
            ),
        ]
    )  # fmt: skip
    await session.commit()

    view = await delivery_status_view(session, delivery_id=delivery.id, organisation_id=org.id)

    assert (view.invoice_number, view.customer_name, view.amount) == ("INV-0001", "Acme Corp", "€1,481.40")
    assert (view.status, view.smtp_reply, view.requested_by, view.attempts) == (
        "delivered", "250 2.0.0 Ok: queued as ABC", "U1", 1
    )  # fmt: skip
    assert [(e.source, e.type) for e in view.timeline] == [("smtp", "accepted"), ("postmark", "delivered")]


async def test_sent_and_problem_lists_show_what_a_person_needs(session, org):
    acme = await factories.customer(session, org.id)
    for number in ("B-1", "B-2", "B-3"):
        await factories.invoice(session, org.id, acme, number=number)
    await session.commit()
    deliveries = {}
    for minutes, number in ((30, "B-1"), (20, "B-2"), (10, "B-3")):
        request = replace(REQUEST, invoice_number=number)
        deliveries[number] = (await request_send(session, org, request, now=NOW - timedelta(minutes=minutes))).delivery
    deliveries["B-1"].status = DeliveryStatus.BOUNCED
    deliveries["B-1"].last_error = "550 5.1.1 no such user"
    deliveries["B-2"].status = DeliveryStatus.FAILED
    await session.commit()
    # B-2 was fixed and sent again: no longer a problem
    await request_send(session, org, replace(REQUEST, invoice_number="B-2", to=("ok@acme.example",)))
    await session.commit()

    recent = await list_recent_deliveries(session, organisation_id=org.id, limit=10)
    problems = await list_problem_deliveries(session, organisation_id=org.id)

    assert [(d.invoice_number, d.status) for d in recent] == [
        ("B-2", "queued"), ("B-3", "queued"), ("B-2", "failed"), ("B-1", "bounced")
    ]  # fmt: skip
    assert [(d.invoice_number, d.detail) for d in problems] == [("B-1", "550 5.1.1 no such user")]


async def test_a_bounced_reminder_is_a_problem_until_a_later_reminder_goes_to_the_customer(session, org):
    reminder = await queued_reminder(session, org, ("INV-R1", "INV-R2"))
    reminder.status, reminder.last_error = DeliveryStatus.BOUNCED, "550 5.1.1 no such user"
    await session.commit()

    problems = await list_problem_deliveries(session, organisation_id=org.id)
    recent = await list_recent_deliveries(session, organisation_id=org.id, limit=10)

    assert [(d.invoice_number, d.reminder, d.status, d.detail) for d in problems] == [
        ("INV-R1", True, "bounced", "550 5.1.1 no such user")
    ]
    assert recent == []  # the sent list is the invoices' own emails
    # the address was corrected and the next reminder asked for (here: listing INV-R2 first)
    second = await session.scalar(select(Invoice).where(Invoice.number == "INV-R2"))
    assert second is not None
    session.add(
        Delivery(
            organisation_id=org.id, invoice_id=second.id, kind=DeliveryKind.REMINDER, status=DeliveryStatus.QUEUED,
            to=["ok@acme.example"], cc=[], bcc=[], subject="Reminder", body_text="", language="en",
            attachments=Attachments.PDF, message_id="<r2@example.com>", verp_token="r2", requested_by="reminders",
        )
    )  # fmt: skip
    await session.commit()
    assert await list_problem_deliveries(session, organisation_id=org.id) == []


async def test_a_queued_send_can_be_cancelled_by_its_requester(session, org):
    await acme_invoice(session, org)
    delivery = (await request_send(session, org)).delivery
    await session.commit()
    cancelled = await cancel_delivery(
        session, organisation_id=org.id, delivery_id=delivery.id, actor="U1", rules=OPEN, now=NOW
    )
    await session.commit()
    assert (cancelled.status, cancelled.finished_at, cancelled.next_attempt_at) == ("cancelled", NOW, None)


async def test_a_send_already_under_way_cannot_be_cancelled(session, org):
    await acme_invoice(session, org)
    delivery = (await request_send(session, org)).delivery
    delivery.status = DeliveryStatus.SENDING
    await session.commit()
    with pytest.raises(
        IllegalTransition, match=re.escape("The email of INV-0001 is sending, so it can no longer be cancelled.")
    ):
        await cancel_delivery(session, organisation_id=org.id, delivery_id=delivery.id, actor="U1", rules=OPEN, now=NOW)


async def test_a_send_the_server_accepted_cannot_be_cancelled_even_if_a_soft_bounce_made_it_deferred(session, org):
    await acme_invoice(session, org)
    delivery = (await request_send(session, org)).delivery
    delivery.status = DeliveryStatus.DEFERRED
    delivery.smtp_reply = "250 2.0.0 Ok: queued as 4F2A"
    await session.commit()
    with pytest.raises(IllegalTransition, match="can no longer be cancelled"):
        await cancel_delivery(session, organisation_id=org.id, delivery_id=delivery.id, actor="U1", rules=OPEN, now=NOW)


async def test_only_the_requester_approvers_and_admins_may_cancel(session, org):
    await acme_invoice(session, org)
    delivery = (await request_send(session, org)).delivery
    await session.commit()
    with pytest.raises(NotAllowed, match="You can't cancel this send"):
        await cancel_delivery(session, organisation_id=org.id, delivery_id=delivery.id, actor="U8", rules=OPEN, now=NOW)


def test_verp_tokens_are_lower_case_local_part_safe_and_a_forged_one_is_refused():
    from services.sending.checks import new_verp_token

    token = new_verp_token(SECRET)
    nonce, _, signature = token.partition("-")
    forged = f"{new_verp_token(SECRET).partition('-')[0]}-{signature}"  # another nonce, this signature

    assert re.fullmatch(r"[a-z2-7]+-[a-z2-7]+", token) and len(nonce) >= 26  # ≥128 random bits
    assert verp_token_is_genuine(token.upper(), SECRET)  # an MTA folded the case
    assert not verp_token_is_genuine(forged, SECRET)
    assert not verp_token_is_genuine(nonce, SECRET)
