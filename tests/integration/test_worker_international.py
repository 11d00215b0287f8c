"""The worker with internationalised addresses, against a real aiosmtpd on 127.0.0.1.

Reported: a recipient on `bücher.example` made the SMTP client raise on the envelope and the
delivery stuck in "Sending…". Now the envelope carries the A-label and the delivery ends in
a state that says what happened.
"""

from __future__ import annotations

from email import policy
from email.parser import Parser

import idna
from sqlalchemy import select

from services.db.models import DeliveryEvent, DeliveryStatus, Invoice, InvoiceStatus, Organisation
from tests import factories
from tests.harness.sending import SECRET, WITHOUT_REPLY_TO, make_worker


async def test_an_invoice_to_an_idn_domain_is_sent_with_the_a_label_on_the_envelope(
    session, sessions, org, smtp, transport
):
    delivery = await factories.queued_delivery(session, org.id, verp_secret=SECRET, to=("ap@bücher.example",))

    assert await make_worker(sessions, transport, identity=WITHOUT_REPLY_TO).drain() == 1

    [received] = smtp.received
    assert received.recipients == ["ap@xn--bcher-kva.example"]
    [to] = Parser(policy=policy.default).parsestr(received.data.decode("utf-8"))["To"].addresses
    assert idna.decode(to.domain) == "bücher.example"
    stored = await factories.reload_delivery(sessions, delivery.id)
    assert stored.status == DeliveryStatus.ACCEPTED
    assert stored.to == ["ap@bücher.example"], "stored and shown as typed, readable"
    async with sessions() as check:
        invoice = await check.get(Invoice, stored.invoice_id)
        assert invoice is not None and invoice.status == InvoiceStatus.SENT


async def test_a_non_ascii_name_fails_with_its_reason_when_the_server_no_longer_offers_smtputf8(
    session, sessions, org: Organisation, smtp, transport
):
    org.smtp_utf8 = True  # verified against a server that offered it; the server changed since
    await session.commit()
    smtp.script.smtputf8 = False
    delivery = await factories.queued_delivery(session, org.id, verp_secret=SECRET, to=("zoë@example.com",))

    await make_worker(sessions, transport, identity=WITHOUT_REPLY_TO).drain()

    assert smtp.received == []
    stored = await factories.reload_delivery(sessions, delivery.id)
    assert stored.status == DeliveryStatus.FAILED, "never left in sending"
    assert "zoë@… has a non-ASCII name before the @" in (stored.last_error or "")
    async with sessions() as check:
        events = (
            await check.execute(select(DeliveryEvent.type).where(DeliveryEvent.delivery_id == delivery.id))
        ).scalars()
        assert "failed" in list(events)
        invoice = await check.get(Invoice, stored.invoice_id)
        assert invoice is not None and invoice.status == InvoiceStatus.VALIDATED
