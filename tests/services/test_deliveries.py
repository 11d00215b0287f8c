import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.approvals import ApprovalRules
from services.bulk_delivery import request_bulk_delivery
from services.db.models import (
    Approval,
    AuditLog,
    Delivery,
    DeliveryEvent,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Notification,
    Organisation,
    Suppression,
    TemplateOverride,
)
from services.deliveries import (
    DeliveryOutcome,
    DeliveryRequest,
    cancel_delivery,
    delivery_status_view,
    list_problem_deliveries,
    list_recent_deliveries,
    request_delivery,
    verp_token_is_genuine,
)
from services.due import SendingState
from services.errors import FieldErrors, IllegalTransition, NeedsConfirmation, NotAllowed
from services.invoices import mark_sent_manually
from services.review import prepare_review
from tests import factories

RULES_FOR_TEST = ApprovalRules()  # no sender listed: everyone may change invoices

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)
VERIFIED = SendingState(configured=True, verified=True)
OPEN = ApprovalRules()
SECRET = b"verp-secret"
REQUEST = DeliveryRequest(
    invoice_number="INV-0001",
    to=("ap@acme.example",),
    subject="Invoice INV-0001 from Example Trading Ltd",
    message="Dear Acme Corp,\n\nPlease find attached our invoice.",
    requested_by="U1",
    requester_email="alice@example.com",
)


async def _acme_invoice(session: AsyncSession, org: Organisation, **kwargs) -> Invoice:
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme, **kwargs)
    await session.commit()
    return invoice


async def _request(
    session: AsyncSession, org: Organisation, request: DeliveryRequest = REQUEST, **kwargs: Any
) -> DeliveryOutcome:
    arguments: dict[str, Any] = {"rules": OPEN, "sending": VERIFIED, "now": NOW} | kwargs
    return await request_delivery(
        session,
        organisation_id=org.id,
        request=request,
        message_id_domain="mail.example.com",
        verp_secret=SECRET,
        **arguments,
    )


async def _field_errors(session: AsyncSession, org: Organisation, **changes) -> dict[str, str]:
    with pytest.raises(FieldErrors) as caught:
        await _request(session, org, replace(REQUEST, **changes))
    return caught.value.errors


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


# --- the review ---------------------------------------------------------------------------


async def test_review_is_prefilled_from_the_customer_and_the_templates_in_their_language(session, org):
    acme = await factories.customer(session, org.id, language="fr", emails=("ap@acme.example", "boss@acme.example"))
    acme.cc = ["controller@acme.example"]
    invoice = await factories.invoice(session, org.id, acme, amount="1234.50")
    await session.commit()

    draft = await prepare_review(
        session, organisation_id=org.id, invoice_number="INV-0001", public_url="https://bot.example/", now=NOW
    )

    assert draft.to == ("ap@acme.example", "boss@acme.example")
    assert draft.cc == ("controller@acme.example",)
    assert draft.bcc == ()
    assert draft.language == "fr"
    assert draft.subject == "Facture INV-0001 de Example Trading Ltd"
    assert f"https://bot.example/i/{invoice.public_token}" in draft.message
    assert draft.ready and draft.recent is None and draft.suppressed == ()


async def test_review_language_can_be_chosen_and_organisation_wording_is_used(session, org):
    await _acme_invoice(session, org)
    session.add(
        TemplateOverride(organisation_id=org.id, language="de", part="subject", source="Rechnung {{ invoice_number }}")
    )
    await session.commit()
    draft = await prepare_review(
        session, organisation_id=org.id, invoice_number="INV-0001", language="de", public_url="http://x", now=NOW
    )
    assert (draft.language, draft.subject) == ("de", "Rechnung INV-0001")


async def test_a_suppression_is_dated_in_the_teams_locale(session, org):
    await _acme_invoice(session, org)
    org.default_language, org.country = "fr", "FR"
    session.add(
        Suppression(
            organisation_id=org.id,
            email="ap@acme.example",
            reason="hard_bounce",
            created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        )
    )
    await session.commit()
    draft = await prepare_review(
        session, organisation_id=org.id, invoice_number="INV-0001", public_url="http://x", now=NOW, sending=VERIFIED
    )
    assert [s.message for s in draft.suppressed] == [
        "ap@acme.example is on the suppression list (bounced permanently on 20 novembre 2026)"
    ]


async def test_review_names_suppressed_recipients_and_readiness_problems(session, org):
    await _acme_invoice(session, org, status=InvoiceStatus.DRAFT)
    session.add(
        Suppression(
            organisation_id=org.id,
            email="ap@acme.example",
            reason="hard_bounce",
            created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        )
    )
    await session.commit()
    draft = await prepare_review(
        session, organisation_id=org.id, invoice_number="INV-0001", public_url="http://x", now=NOW, sending=VERIFIED
    )
    assert [s.message for s in draft.suppressed] == [
        "ap@acme.example is on the suppression list (bounced permanently on 20 November 2026)"
    ]
    assert [p.message for p in draft.problems] == [
        "not validated (still a draft)",
        "ap@acme.example is on the suppression list (bounced permanently before)",
    ]


async def test_review_shows_a_recent_send_with_who_and_when(session, org):
    await _acme_invoice(session, org)
    await _request(session, org, now=NOW - timedelta(minutes=4))
    await session.commit()
    draft = await prepare_review(
        session, organisation_id=org.id, invoice_number="INV-0001", public_url="http://x", now=NOW
    )
    assert draft.recent is not None
    assert (draft.recent.by, draft.recent.status, draft.recent.in_flight) == ("U1", "queued", True)


# --- asking for a send ----------------------------------------------------------------------


async def test_a_request_queues_one_delivery_with_a_fixed_message_id_for_now(session, org):
    await _acme_invoice(session, org)
    outcome = await _request(session, org)
    await session.commit()

    delivery = outcome.delivery
    assert outcome.created and outcome.approval is None and outcome.preview is None
    assert (delivery.status, delivery.next_attempt_at, delivery.kind) == (DeliveryStatus.QUEUED, NOW, "invoice")
    assert delivery.to == ["ap@acme.example"]
    assert delivery.body_text == "Dear Acme Corp,\n\nPlease find attached our invoice.\n"
    assert re.fullmatch(r"<inv-INV-0001-[0-9a-f]{24}@mail\.example\.com>", delivery.message_id)
    assert verp_token_is_genuine(delivery.verp_token, SECRET)
    assert not verp_token_is_genuine(delivery.verp_token, b"another secret")
    audit = (await session.execute(select(AuditLog.action, AuditLog.actor))).all()
    assert audit[-1] == ("delivery.requested", "U1")
    notes = (await session.execute(select(Notification.kind, Notification.delivery_id))).all()
    assert notes == [("delivery_status", delivery.id)]


async def test_two_deliveries_never_share_message_id_or_verp_token(session, org):
    await _acme_invoice(session, org)
    first = (await _request(session, org, replace(REQUEST, preview_first=True))).delivery
    preview = (await session.execute(select(Delivery).where(Delivery.kind == "preview"))).scalar_one()
    assert first.message_id != preview.message_id
    assert first.verp_token != preview.verp_token


async def test_a_request_above_the_threshold_waits_for_approval_and_asks_the_approvers(session, org):
    await _acme_invoice(session, org, amount="5000.00")
    rules = ApprovalRules(approvers=frozenset({"U2"}), policy="above_amount", threshold=Decimal("1000"))
    outcome = await _request(session, org, rules=rules)
    await session.commit()

    assert outcome.delivery.status == DeliveryStatus.AWAITING_APPROVAL
    assert outcome.delivery.next_attempt_at is None
    assert outcome.approval is not None
    assert (outcome.approval.requested_by, outcome.approval.decision) == ("U1", "pending")
    kinds = (await session.execute(select(Notification.kind).order_by(Notification.id))).scalars().all()
    assert kinds == ["delivery_status", "approval_request"]


async def test_bad_input_comes_back_as_sentences_per_field_and_writes_nothing(session, org):
    await _acme_invoice(session, org)
    errors = await _field_errors(session, org, to=("bob@",), cc=("not an address",), subject=" ", message="")
    assert errors == {
        "to": "'bob@' is not a valid email address",
        "cc": "'not an address' is not a valid email address",
        "subject": "Give the email a subject",
        "message": "Write a message for the email body",
    }
    assert await _field_errors(session, org, to=()) == {"to": "Give at least one recipient"}
    assert await _count(session, Delivery) == 0


async def test_a_preview_needs_an_email_address_of_the_requester(session, org):
    await _acme_invoice(session, org)
    errors = await _field_errors(session, org, preview_first=True, requester_email=None)
    assert errors == {"preview_first": "There is no email address of yours to send the preview to"}


async def test_a_suppressed_recipient_needs_send_anyway(session, org):
    await _acme_invoice(session, org)
    session.add(
        Suppression(
            organisation_id=org.id,
            email="ap@acme.example",
            reason="hard_bounce",
            created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        )
    )
    await session.commit()
    assert await _field_errors(session, org) == {
        "override_suppression": "ap@acme.example is on the suppression list (bounced permanently on 20 November 2026): "
        "tick 'send anyway' to override"
    }
    outcome = await _request(session, org, replace(REQUEST, override_suppression=True))
    assert outcome.delivery.override_suppression is True


async def test_addresses_repeated_across_to_cc_and_bcc_receive_one_copy(session, org):
    await _acme_invoice(session, org)
    outcome = await _request(
        session, org, replace(REQUEST, cc=("AP@acme.example", "c@acme.example"), bcc=("c@acme.example",))
    )
    assert (outcome.delivery.cc, outcome.delivery.bcc) == (["c@acme.example"], [])


async def test_a_draft_invoice_is_not_sent(session, org):
    await _acme_invoice(session, org, status=InvoiceStatus.DRAFT)
    with pytest.raises(
        IllegalTransition, match=re.escape("Invoice INV-0001 is still a draft: validate it before sending it.")
    ):
        await _request(session, org)


async def test_nothing_is_sent_while_smtp_is_not_verified(session, org):
    await _acme_invoice(session, org)
    failed = SendingState(configured=True, verified=False, detail="535 authentication failed")
    with pytest.raises(IllegalTransition, match="SMTP settings are not verified: 535 authentication failed"):
        await _request(session, org, sending=failed)


async def test_only_listed_senders_may_send(session, org):
    await _acme_invoice(session, org)
    with pytest.raises(NotAllowed, match="You can't send invoices"):
        await _request(session, org, rules=ApprovalRules(senders=frozenset({"U7"})))


async def test_the_same_idempotency_key_returns_the_existing_delivery(session, org):
    await _acme_invoice(session, org)
    keyed = replace(REQUEST, idempotency_key="V0123VIEW", preview_first=True)
    first = await _request(session, org, keyed)
    await session.commit()
    again = await _request(session, org, keyed, now=NOW + timedelta(seconds=3))

    assert (first.created, again.created) == (True, False)
    assert again.delivery.id == first.delivery.id
    assert again.preview is not None and first.preview is not None
    assert again.preview.id == first.preview.id
    assert await _count(session, Delivery) == 2


async def test_two_concurrent_requests_with_one_key_create_one_delivery(
    sessions: async_sessionmaker[AsyncSession], session, org
):
    await _acme_invoice(session, org)
    keyed = replace(REQUEST, idempotency_key="V0123VIEW")

    async def submit() -> bool:
        async with sessions() as own:
            outcome = await _request(own, org, keyed)
            await own.commit()
            return outcome.created

    created = await asyncio.gather(submit(), submit())

    assert sorted(created) == [False, True]
    assert await _count(session, Delivery) == 1
    assert await _count(session, Notification) == 1


async def test_a_request_racing_an_uncommitted_twin_waits_for_it_and_returns_it(
    sessions: async_sessionmaker[AsyncSession], session, org
):
    await _acme_invoice(session, org)
    keyed = replace(REQUEST, idempotency_key="V0123VIEW")
    async with sessions() as first, sessions() as second:
        created = await _request(first, org, keyed)  # written, not yet committed: the twin cannot see it
        twin = asyncio.create_task(_request(second, org, keyed))
        await asyncio.sleep(0.3)  # the twin is now waiting on the write lock (SQLite) or the invoice lock (PostgreSQL)
        await first.commit()
        returned = await asyncio.wait_for(twin, timeout=15)
        await second.commit()

    assert (created.created, returned.created) == (True, False)
    assert returned.delivery.id == created.delivery.id
    assert await _count(session, Delivery) == 1


async def test_an_invoice_being_sent_asks_for_confirmation_before_another_send(session, org):
    await _acme_invoice(session, org)
    await _request(session, org, now=NOW - timedelta(minutes=4))
    await session.commit()
    with pytest.raises(NeedsConfirmation) as caught:
        await _request(session, org)
    assert str(caught.value) == "INV-0001 is being sent right now (asked 4 minutes ago by <@U1>) — send again?"
    confirmed = await _request(session, org, replace(REQUEST, confirm_resend=True))
    assert confirmed.created
    assert await _count(session, Delivery) == 2


async def test_an_invoice_sent_minutes_ago_asks_for_confirmation(session, org):
    await _acme_invoice(session, org)
    earlier = (await _request(session, org, now=NOW - timedelta(minutes=10))).delivery
    earlier.status = DeliveryStatus.ACCEPTED
    earlier.finished_at = NOW - timedelta(minutes=4)
    await session.commit()
    with pytest.raises(NeedsConfirmation, match=r"^INV-0001 was sent 4 minutes ago by <@U1> — send again\?$"):
        await _request(session, org)
    assert (await _request(session, org, now=NOW + timedelta(days=1))).created


async def test_an_invoice_marked_as_sent_by_hand_asks_before_emailing_it(session, org):
    await _acme_invoice(session, org)
    await mark_sent_manually(
        session,
        organisation_id=org.id,
        number="INV-0001",
        actor="U5",
        rules=RULES_FOR_TEST,
        at=NOW - timedelta(hours=3),
    )
    await session.commit()
    with pytest.raises(NeedsConfirmation, match="INV-0001 was marked as sent 3 hours ago by <@U5>"):
        await _request(session, org)


async def test_a_preview_goes_to_the_requester_at_once_even_while_approval_is_pending(session, org):
    invoice = await _acme_invoice(session, org)
    outcome = await _request(
        session,
        org,
        replace(REQUEST, preview_first=True),
        rules=ApprovalRules(admins=frozenset({"U9"}), policy="always"),
    )
    await session.commit()

    preview = outcome.preview
    assert preview is not None
    assert (preview.kind, preview.status, preview.to, preview.next_attempt_at) == (
        DeliveryKind.PREVIEW, DeliveryStatus.QUEUED, ["alice@example.com"], NOW
    )  # fmt: skip
    assert preview.subject == outcome.delivery.subject
    assert outcome.delivery.status == DeliveryStatus.AWAITING_APPROVAL
    assert await _count(session, Approval) == 1
    await session.refresh(invoice)
    assert invoice.status == InvoiceStatus.VALIDATED


# --- bulk -------------------------------------------------------------------------------------


async def test_bulk_send_creates_one_delivery_per_ready_invoice_and_explains_the_rest(session, org):
    acme = await factories.customer(session, org.id)
    nomail = await factories.customer(session, org.id, ref="NOMAIL", name="No Mail GmbH", emails=())
    await factories.invoice(session, org.id, acme, number="A-1")
    await factories.invoice(session, org.id, acme, number="A-2")
    await factories.invoice(session, org.id, acme, number="A-3", status=InvoiceStatus.DRAFT)
    await factories.invoice(session, org.id, nomail, number="N-1")
    await session.commit()

    async def bulk():
        return await request_bulk_delivery(
            session, organisation_id=org.id, invoice_numbers=["A-1", "A-2", "A-3", "N-1", "MISSING"],
            requested_by="U1", rules=OPEN, sending=VERIFIED, now=NOW, message_id_domain="mail.example.com",
            verp_secret=SECRET, public_url="http://x", idempotency_key="bulk-1",
        )  # fmt: skip

    outcome = await bulk()
    await session.commit()

    assert [(o.delivery.status, o.delivery.subject) for o in outcome.requested] == [
        ("queued", "Invoice A-1 from Example Trading Ltd"),
        ("queued", "Invoice A-2 from Example Trading Ltd"),
    ]
    assert {s.invoice_number: s.reasons for s in outcome.skipped} == {
        "A-3": ("not validated (still a draft)",),
        "N-1": ("the customer has no recipient email",),
        "MISSING": ("There is no invoice 'MISSING'.",),
    }
    repeated = await bulk()
    assert [o.created for o in repeated.requested] == [False, False]
    assert await _count(session, Delivery) == 2


# --- reading back and cancelling ----------------------------------------------------------


async def test_status_view_tells_the_whole_story_of_a_delivery(session, org):
    await _acme_invoice(session, org, amount="1234.50")
    delivery = (await _request(session, org)).delivery
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
        deliveries[number] = (await _request(session, org, request, now=NOW - timedelta(minutes=minutes))).delivery
    deliveries["B-1"].status = DeliveryStatus.BOUNCED
    deliveries["B-1"].last_error = "550 5.1.1 no such user"
    deliveries["B-2"].status = DeliveryStatus.FAILED
    await session.commit()
    # B-2 was fixed and sent again: no longer a problem
    await _request(session, org, replace(REQUEST, invoice_number="B-2", to=("ok@acme.example",)))
    await session.commit()

    recent = await list_recent_deliveries(session, organisation_id=org.id, limit=10)
    problems = await list_problem_deliveries(session, organisation_id=org.id)

    assert [(d.invoice_number, d.status) for d in recent] == [
        ("B-2", "queued"), ("B-3", "queued"), ("B-2", "failed"), ("B-1", "bounced")
    ]  # fmt: skip
    assert [(d.invoice_number, d.detail) for d in problems] == [("B-1", "550 5.1.1 no such user")]


async def test_a_queued_send_can_be_cancelled_by_its_requester(session, org):
    await _acme_invoice(session, org)
    delivery = (await _request(session, org)).delivery
    await session.commit()
    cancelled = await cancel_delivery(
        session, organisation_id=org.id, delivery_id=delivery.id, actor="U1", rules=OPEN, now=NOW
    )
    await session.commit()
    assert (cancelled.status, cancelled.finished_at, cancelled.next_attempt_at) == ("cancelled", NOW, None)


async def test_a_send_already_under_way_cannot_be_cancelled(session, org):
    await _acme_invoice(session, org)
    delivery = (await _request(session, org)).delivery
    delivery.status = DeliveryStatus.SENDING
    await session.commit()
    with pytest.raises(
        IllegalTransition, match=re.escape("The email of INV-0001 is sending, so it can no longer be cancelled.")
    ):
        await cancel_delivery(session, organisation_id=org.id, delivery_id=delivery.id, actor="U1", rules=OPEN, now=NOW)


async def test_a_send_the_server_accepted_cannot_be_cancelled_even_if_a_soft_bounce_made_it_deferred(session, org):
    await _acme_invoice(session, org)
    delivery = (await _request(session, org)).delivery
    delivery.status = DeliveryStatus.DEFERRED
    delivery.smtp_reply = "250 2.0.0 Ok: queued as 4F2A"
    await session.commit()
    with pytest.raises(IllegalTransition, match="can no longer be cancelled"):
        await cancel_delivery(session, organisation_id=org.id, delivery_id=delivery.id, actor="U1", rules=OPEN, now=NOW)


async def test_only_the_requester_approvers_and_admins_may_cancel(session, org):
    await _acme_invoice(session, org)
    delivery = (await _request(session, org)).delivery
    await session.commit()
    with pytest.raises(NotAllowed, match="You can't cancel this send"):
        await cancel_delivery(session, organisation_id=org.id, delivery_id=delivery.id, actor="U8", rules=OPEN, now=NOW)


def test_verp_tokens_are_lower_case_local_part_safe_and_a_forged_one_is_refused():
    from services.delivery_checks import new_verp_token

    token = new_verp_token(SECRET)
    nonce, _, signature = token.partition("-")
    forged = f"{new_verp_token(SECRET).partition('-')[0]}-{signature}"  # another nonce, this signature

    assert re.fullmatch(r"[a-z2-7]+-[a-z2-7]+", token) and len(nonce) >= 26  # ≥128 random bits
    assert verp_token_is_genuine(token.upper(), SECRET)  # an MTA folded the case
    assert not verp_token_is_genuine(forged, SECRET)
    assert not verp_token_is_genuine(nonce, SECRET)
