"""The invoice state rule as the other services apply it: bulk sending and the problems list."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import AuditLog, Delivery, DeliveryStatus, Invoice, InvoiceStatus, Organisation, SentVia
from services.invoicing.invoices import InvoiceAct, mark_sent_manually
from services.invoicing.states import not_received_words
from services.sending.bulk import BulkRequest, request_bulk_delivery
from services.tracking.follow import follow_invoice_emails
from services.tracking.status import list_problem_deliveries
from tests import factories
from tests.harness.requesting import NOW, OPEN, REQUEST, VERIFIED, request_send, send_context


async def _emailed(session: AsyncSession, org: Organisation, number: str, status: DeliveryStatus) -> int:
    delivery = (await request_send(session, org, replace(REQUEST, invoice_number=number))).delivery
    delivery.status = status
    await session.commit()
    return delivery.id


async def test_bulk_send_skips_an_invoice_not_received_or_in_doubt_with_the_reason(session, org):
    acme = await factories.customer(session, org.id)
    for number in ("B-1", "U-1", "R-1"):
        await factories.invoice(session, org.id, acme, number=number)
    await session.commit()
    await _emailed(session, org, "B-1", DeliveryStatus.FAILED)
    await _emailed(session, org, "U-1", DeliveryStatus.UNKNOWN)

    outcome = await request_bulk_delivery(
        session,
        organisation_id=org.id,
        sending=VERIFIED,
        request=BulkRequest(
            invoice_numbers=["B-1", "U-1", "R-1"],
            requested_by="U1",
            public_url="http://x",
            idempotency_key="bulk-states",
        ),
        send=send_context(),
    )

    assert [o.delivery.to for o in outcome.requested] == [["ap@acme.example"]]
    assert {s.invoice_number: s.reasons for s in outcome.skipped} == {
        "B-1": ("refused to ap@acme.example: the receiving server refused the email",),
        "U-1": ("may have arrived — check with the customer before sending again",),
    }


async def test_the_problems_list_drops_a_problem_once_resolved_by_a_later_send_or_by_hand(session, org):
    acme = await factories.customer(session, org.id)
    for number in ("P-1", "P-2", "P-3"):
        await factories.invoice(session, org.id, acme, number=number)
    await session.commit()
    await _emailed(session, org, "P-1", DeliveryStatus.BOUNCED)
    await _emailed(session, org, "P-2", DeliveryStatus.UNKNOWN)
    await _emailed(session, org, "P-3", DeliveryStatus.FAILED)
    await _emailed(session, org, "P-3", DeliveryStatus.BOUNCED)  # the resend bounced too: only it is listed
    await mark_sent_manually(session, InvoiceAct(organisation_id=org.id, number="P-2", actor="U1", rules=OPEN))
    await session.commit()

    problems = await list_problem_deliveries(session, organisation_id=org.id)

    assert sorted((p.invoice_number, p.status) for p in problems) == [("P-1", "bounced"), ("P-3", "bounced")]


async def test_an_invoice_following_its_email_moves_and_is_audited_by_events(session, org):
    acme = await factories.customer(session, org.id)
    for number in ("N-1", "D-1"):
        await factories.invoice(session, org.id, acme, number=number)
    await session.commit()
    bounced = await session.get_one(Delivery, await _emailed(session, org, "N-1", DeliveryStatus.BOUNCED))
    in_doubt = await session.get_one(Delivery, await _emailed(session, org, "D-1", DeliveryStatus.DELIVERED))
    sent = (await session.execute(select(Invoice).where(Invoice.number == "N-1"))).scalar_one()
    sent.status, sent.sent_via, sent.sent_at = InvoiceStatus.SENT, SentVia.EMAIL, NOW
    await session.commit()

    await follow_invoice_emails(
        session,
        moved={bounced.id: bounced, in_doubt.id: in_doubt},
        status_before={bounced.id: DeliveryStatus.DELIVERED, in_doubt.id: DeliveryStatus.UNKNOWN},
        now=NOW,
    )
    await session.commit()

    invoices = {i.number: i for i in (await session.execute(select(Invoice))).scalars()}
    assert (invoices["N-1"].status, invoices["N-1"].sent_via) == (InvoiceStatus.VALIDATED, None)
    assert (invoices["D-1"].status, invoices["D-1"].sent_via) == (InvoiceStatus.SENT, SentVia.EMAIL)
    audit = (await session.execute(select(AuditLog).where(AuditLog.actor == "events").order_by(AuditLog.id))).scalars()
    assert [(a.action, a.subject_id, a.detail) for a in audit] == [
        ("invoice.not_received", invoices["N-1"].id,
         {"number": "N-1", "from": "sent", "delivery_id": bounced.id, "why": not_received_words(bounced)}),
        ("invoice.sent", invoices["D-1"].id,
         {"number": "D-1", "from": "validated", "via": "email", "delivery_id": in_doubt.id, "after": "unknown"}),
    ]  # fmt: skip
