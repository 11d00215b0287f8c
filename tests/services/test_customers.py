"""Replacing a customer's addresses, and reading back what failed in a send."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.authorization import ApprovalRules
from services.db.models import AuditLog, Customer, Delivery, DeliveryEvent, DeliveryStatus
from services.errors import FieldErrors, NotFound
from services.invoicing.customers import failed_send, replace_customer_emails
from tests import factories

RULES_FOR_TEST = ApprovalRules()  # no sender listed: everyone may fix addresses


async def test_replacing_emails_normalises_them_drops_duplicates_and_writes_the_audit_log(session, org):
    acme = await factories.customer(session, org.id)
    await session.commit()

    customer = await replace_customer_emails(
        session,
        organisation_id=org.id,
        customer_id=acme.id,
        emails=[" Billing@Acme.example ", "billing@acme.example", "ap2@acme.example"],
        actor="U0ALICE",
        rules=RULES_FOR_TEST,
    )
    await session.commit()

    assert customer.emails == ["Billing@acme.example", "ap2@acme.example"]
    [entry] = (await session.execute(select(AuditLog).where(AuditLog.action == "customer.emails_changed"))).scalars()
    assert entry.actor == "U0ALICE"
    assert entry.detail["before"] == "ap@acme.example"
    assert entry.detail["after"] == "Billing@acme.example, ap2@acme.example"


async def test_a_bad_address_is_named_and_nothing_is_changed(session, org):
    acme = await factories.customer(session, org.id)
    await session.commit()

    with pytest.raises(FieldErrors) as raised:
        await replace_customer_emails(
            session,
            organisation_id=org.id,
            customer_id=acme.id,
            emails=["ok@acme.example", "nope@"],
            actor="U1",
            rules=RULES_FOR_TEST,
        )
    assert "'nope@' is not a valid email address" in raised.value.errors["emails"]
    await session.rollback()
    assert await session.scalar(select(Customer.emails).where(Customer.id == acme.id)) == ["ap@acme.example"]


async def test_no_address_at_all_is_refused(session, org):
    acme = await factories.customer(session, org.id)
    with pytest.raises(FieldErrors, match="at least one email address"):
        await replace_customer_emails(
            session, organisation_id=org.id, customer_id=acme.id, emails=[" "], actor="U1", rules=RULES_FOR_TEST
        )


async def test_a_customer_of_another_organisation_is_not_found(session, org):
    with pytest.raises(NotFound):
        await replace_customer_emails(
            session, organisation_id=org.id, customer_id=999, emails=["a@b.example"], actor="U1", rules=RULES_FOR_TEST
        )


async def test_a_failed_send_names_each_failed_recipient_with_what_the_server_said(session, org):
    acme = await factories.customer(session, org.id, emails=("ap@acme.example", "gone@acme.example"))
    invoice = await factories.invoice(session, org.id, acme, number="INV-0009")
    delivery = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        status=DeliveryStatus.BOUNCED,
        to=["ap@acme.example", "gone@acme.example"],
        subject="Invoice INV-0009",
        body_text="Hello",
        message_id="<inv-9@example.com>",
        verp_token="token-9",
        requested_by="U0ALICE",
        recipient_results={"ap@acme.example": {"status": "accepted", "reply": "250 ok"}},
    )
    session.add(delivery)
    await session.flush()
    session.add(
        DeliveryEvent(
            organisation_id=org.id,
            delivery_id=delivery.id,
            source="dsn",
            type="bounced",
            recipient="gone@acme.example",
            detail={"diagnostic": "smtp; 550 5.1.1 user unknown"},
        )
    )
    await session.commit()

    send = await failed_send(session, organisation_id=org.id, delivery_id=delivery.id)

    assert send.invoice_number == "INV-0009"
    assert send.customer_emails == ("ap@acme.example", "gone@acme.example")
    assert [(item.address, item.why) for item in send.failed] == [("gone@acme.example", "smtp; 550 5.1.1 user unknown")]
    assert (send.subject, send.message) == ("Invoice INV-0009", "Hello")
    with pytest.raises(NotFound):
        await failed_send(session, organisation_id=org.id + 1, delivery_id=delivery.id)
