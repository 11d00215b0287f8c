"""The payment reference in the database (SQLite, or PostgreSQL via TEST_DATABASE_URL): the email a person
reviews gives the account and the invoice's reference, and that reference, typed back the way a
customer's bank passes it on, finds exactly that invoice and only in its own organisation."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Organisation, SmtpStatus
from services.documents.model import load_invoice_document
from services.invoicing.payment_reference import find_invoice_by_reference, payment_reference
from services.sending.review import ReviewRequest, prepare_review
from tests import factories
from tests.harness.requesting import NOW


async def test_the_reviewed_email_gives_the_account_and_the_reference_that_finds_the_invoice(
    session: AsyncSession, org: Organisation
) -> None:
    org.iban, org.bic, org.account_holder = "DE89370400440532013000", "COBADEFFXXX", "Example Treasury GmbH"
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme)
    await factories.invoice(session, org.id, acme, number="INV-0002")
    await session.commit()

    draft = await prepare_review(
        session,
        ReviewRequest(organisation_id=org.id, invoice_number="INV-0001", public_url="https://bot.example/", now=NOW),
    )
    document = await load_invoice_document(
        session, organisation_id=org.id, invoice_id=invoice.id, public_url="https://bot.example/"
    )

    reference = payment_reference(invoice.id, seller_country="GB")
    assert document.payment.reference == reference
    for fact in ("IBAN: DE89 3704 0044 0532 0130 00", "BIC: COBADEFFXXX", "Account holder: Example Treasury GmbH"):
        assert fact in draft.message
    assert f"Payment reference: {reference}" in draft.message
    typed = reference.replace(" ", "").lower()
    found = await find_invoice_by_reference(session, organisation_id=org.id, text=typed)
    assert found is not None and found.number == "INV-0001"


async def test_a_reference_finds_nothing_in_another_organisation_or_with_a_wrong_digit(
    session: AsyncSession, org: Organisation
) -> None:
    other = Organisation(name="Other BV", country="BE", sender_email="x@other.example", smtp_status=SmtpStatus.VERIFIED)
    session.add(other)
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme)
    await session.commit()
    belgian = payment_reference(invoice.id, seller_country="BE")

    assert await find_invoice_by_reference(session, organisation_id=other.id, text=belgian) is None
    mistyped = belgian[:-4] + str((int(belgian[-4]) + 1) % 10) + belgian[-3:]
    assert await find_invoice_by_reference(session, organisation_id=org.id, text=mistyped) is None
    found = await find_invoice_by_reference(session, organisation_id=org.id, text=belgian)
    assert found is not None and found.id == invoice.id
