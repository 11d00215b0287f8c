"""A credit note goes the whole real way an invoice goes: `/invoices due` lists it marked as a credit
note, *Review & send* opens with credit-note wording, the real worker renders and checks its UBL
and sends it to a real aiosmtpd; the email says credit note and carries a UBL CreditNote (381)
that names the invoice it corrects. `/invoices show` shows both sides and the reduced balance."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from lxml import etree
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.db.models import DocumentKind, DocumentValidation, Invoice, InvoiceStatus, Organisation
from tests import factories
from tests.harness.home import open_home, section_after
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, texts
from tests.harness.sending import make_worker
from tests.harness.slack import ALICE, TODAY, VERP_KEY, settings_with

settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)
pytestmark = pytest.mark.smtp_client(timeout=5.0, pool_size=1)
CREDIT_NOTE = "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"
CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"


async def seed_credit_note(session: AsyncSession, org: Organisation) -> None:
    """INV-0001 (€1,200.00 incl. tax), already sent; CN-0001 (€120.00 incl. tax) correcting it, issued, unsent."""
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme, number="INV-0001", amount="1000.00")
    note = await factories.invoice(session, org.id, acme, number="CN-0001", amount="100.00")
    await session.execute(update(Invoice).where(Invoice.id == invoice.id).values(status=InvoiceStatus.SENT))
    await session.execute(
        update(Invoice)
        .where(Invoice.id == note.id)
        .values(kind=DocumentKind.CREDIT_NOTE, corrects_invoice_id=invoice.id, credit_reason="Returned goods")
    )
    await session.commit()


async def test_a_credit_note_is_listed_reviewed_sent_and_arrives_as_a_ubl_credit_note(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    org: Organisation,
    transport,
    smtp: ScriptedSmtpServer,
) -> None:
    await seed_credit_note(session, org)

    due = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    rows = [text for text in texts(due["blocks"]) if "CN-0001" in text]
    assert len(rows) == 1 and rows[0].startswith("Credit note *CN-0001* · Acme Corp")
    assert "credit of €120.00" in rows[0]
    assert not [text for text in texts(due["blocks"]) if "*INV-0001*" in text]  # sent: not due

    view = await open_review(slack, fake_slack, "CN-0001")
    inputs = input_blocks(view)
    assert inputs["review_subject.en"]["element"]["initial_value"].startswith("Credit note CN-0001")
    message = inputs["review_message.en"]["element"]["initial_value"]
    assert "credit note CN-0001" in message and "corrects invoice INV-0001" in message
    assert "Payment reference" not in message

    answer = await submit(slack, view, review_attachments="pdf+ubl", fake_slack=fake_slack)
    assert texts(answer["view"]["blocks"])[0].startswith("✅ *CN-0001* is queued")
    assert await make_worker(sessions, transport).drain() == 1

    [received] = smtp.received
    email = BytesParser(policy=policy.default).parsebytes(received.data)
    assert str(email["Subject"]).startswith("Credit note CN-0001")
    text = factories.body_text(email, "plain")
    assert "There is nothing to pay for this credit note." in text
    [xml_part] = [part for part in email.iter_attachments() if part.get_filename() == "CN-0001.xml"]
    ubl = etree.fromstring(xml_part.get_content() if isinstance(xml_part.get_content(), bytes)
                           else xml_part.get_content().encode())  # fmt: skip
    assert ubl.tag == CREDIT_NOTE
    assert ubl.findtext(f"{CBC}CreditNoteTypeCode") == "381"
    assert ubl.findtext(f"{CAC}BillingReference/{CAC}InvoiceDocumentReference/{CBC}ID") == "INV-0001"
    assert [part.get_filename() for part in email.iter_attachments()] == ["CN-0001.pdf", "CN-0001.xml"]

    async with sessions() as check:
        note = (await check.execute(Invoice.__table__.select().where(Invoice.number == "CN-0001"))).one()
        [verdict] = (await check.execute(select(DocumentValidation))).scalars()
    assert note.status == InvoiceStatus.SENT
    assert (verdict.ok, verdict.failures) == (True, [])  # checked before it left, like an invoice's


async def test_show_of_an_invoice_lists_its_credit_notes_and_balance_and_of_a_credit_note_names_its_invoice(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
) -> None:
    await seed_credit_note(session, org)

    await slack.command("show INV-0001", user=ALICE, response_url=fake_slack.response_url("invoice"))
    await slack.command("show CN-0001", user=ALICE, response_url=fake_slack.response_url("note"))
    await fake_slack.wait_until(
        lambda: len(fake_slack.responses_to("invoice")) == 1 and len(fake_slack.responses_to("note")) == 1
    )

    invoice = texts(fake_slack.responses_to("invoice")[0].body["blocks"])
    assert invoice[0] == "Invoice INV-0001"
    assert "*Credited:* €120.00 · *Outstanding:* €1,080.00" in invoice[1]
    assert "*Credit notes:* CN-0001 (€120.00, validated)" in invoice[1]
    note = texts(fake_slack.responses_to("note")[0].body["blocks"])
    assert note[0] == "Credit note CN-0001"
    assert note[1].startswith("*Credit note for invoice INV-0001*")


async def test_app_home_counts_what_an_invoice_owes_after_its_credit_notes_and_never_a_credit_note_itself(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
) -> None:
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(
        session, org.id, acme, number="INV-A", due=TODAY - timedelta(days=5), amount="500"
    )
    note = await factories.invoice(session, org.id, acme, number="CN-A", due=TODAY - timedelta(days=5), amount="100")
    draft = await factories.invoice(session, org.id, acme, number="CN-B", due=TODAY, amount="50",
                                    status=InvoiceStatus.DRAFT)  # fmt: skip
    invoice.status, note.status = InvoiceStatus.SENT, InvoiceStatus.SENT
    for credit in (note, draft):
        credit.kind, credit.corrects_invoice_id = DocumentKind.CREDIT_NOTE, invoice.id
    await session.commit()

    home = await open_home(slack, fake_slack, ALICE)

    assert section_after(home, "Due today and overdue") == [
        "*€480.00* owed — 1–30: €480.00 (1)",  # 600 less the sent 120; the draft credits nothing
        "1 invoice due today or earlier and not fully paid",
    ]
