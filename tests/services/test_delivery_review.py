"""The review of a send: prefilled from the customer and the templates, naming what stands in its way."""

from __future__ import annotations

from datetime import timedelta

from services.db.models import (
    InvoiceStatus,
    TemplateOverride,
)
from services.sending.review import ReviewRequest, prepare_review
from tests import factories
from tests.harness.requesting import NOW, VERIFIED, acme_invoice, request_send, suppress

# --- the review ---------------------------------------------------------------------------


async def test_review_is_prefilled_from_the_customer_and_the_templates_in_their_language(session, org):
    acme = await factories.customer(session, org.id, language="fr", emails=("ap@acme.example", "boss@acme.example"))
    acme.cc = ["controller@acme.example"]
    invoice = await factories.invoice(session, org.id, acme, amount="1234.50")
    await session.commit()

    draft = await prepare_review(
        session,
        ReviewRequest(organisation_id=org.id, invoice_number="INV-0001", public_url="https://bot.example/", now=NOW),
    )

    assert draft.to == ("ap@acme.example", "boss@acme.example")
    assert draft.cc == ("controller@acme.example",)
    assert draft.bcc == ()
    assert draft.language == "fr"
    assert draft.subject == "Facture INV-0001 de Example Trading Ltd"
    assert f"https://bot.example/i/{invoice.public_token}" in draft.message
    assert draft.ready and draft.recent is None and draft.suppressed == ()


async def test_review_language_can_be_chosen_and_organisation_wording_is_used(session, org):
    await acme_invoice(session, org)
    session.add(
        TemplateOverride(organisation_id=org.id, language="de", part="subject", source="Rechnung {{ invoice_number }}")
    )
    await session.commit()
    draft = await prepare_review(
        session,
        ReviewRequest(organisation_id=org.id, invoice_number="INV-0001", language="de", public_url="http://x", now=NOW),
    )
    assert (draft.language, draft.subject) == ("de", "Rechnung INV-0001")


async def test_a_suppression_is_dated_in_the_teams_locale(session, org):
    await acme_invoice(session, org)
    org.default_language, org.country = "fr", "FR"
    suppress(session, org)
    await session.commit()
    draft = await prepare_review(
        session,
        ReviewRequest(
            organisation_id=org.id, invoice_number="INV-0001", public_url="http://x", now=NOW, sending=VERIFIED
        ),
    )
    assert [s.message for s in draft.suppressed] == [
        "ap@acme.example is on the suppression list (bounced permanently on 20 novembre 2026)"
    ]


async def test_review_names_suppressed_recipients_and_readiness_problems(session, org):
    await acme_invoice(session, org, status=InvoiceStatus.DRAFT)
    suppress(session, org)
    await session.commit()
    draft = await prepare_review(
        session,
        ReviewRequest(
            organisation_id=org.id, invoice_number="INV-0001", public_url="http://x", now=NOW, sending=VERIFIED
        ),
    )
    assert [s.message for s in draft.suppressed] == [
        "ap@acme.example is on the suppression list (bounced permanently on 20 November 2026)"
    ]
    assert [p.message for p in draft.problems] == [
        "not validated (still a draft)",
        "ap@acme.example is on the suppression list (bounced permanently before)",
    ]


async def test_review_shows_a_recent_send_with_who_and_when(session, org):
    await acme_invoice(session, org)
    await request_send(session, org, now=NOW - timedelta(minutes=4))
    await session.commit()
    draft = await prepare_review(
        session, ReviewRequest(organisation_id=org.id, invoice_number="INV-0001", public_url="http://x", now=NOW)
    )
    assert draft.recent is not None
    assert (draft.recent.by, draft.recent.status, draft.recent.in_flight) == ("U1", "queued", True)
