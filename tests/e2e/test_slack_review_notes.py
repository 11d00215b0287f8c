"""The review modal's "Show notes on the invoice page" (issue 16 item 4), through the real web app,
Bolt and slack_sdk against the fake Slack Web API: the box is ticked by default and its state
is stored with the delivery (the PDF and link page follow it: tests/web/test_invoice_page_notes.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Organisation
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, texts
from tests.harness.seeding import seed_invoice
from tests.harness.sending import deliveries
from tests.harness.slack import VERP_KEY, settings_with

settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)


async def test_the_notes_box_is_ticked_by_default_and_a_send_as_is_shows_notes(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    notes = input_blocks(view)["review_notes"]
    assert notes["element"]["type"] == "checkboxes"
    assert [option["text"]["text"] for option in notes["element"]["initial_options"]] == [
        "Show notes on the invoice page"
    ]
    answer = await submit(slack, view, fake_slack=fake_slack)

    assert texts(answer["view"]["blocks"])[0].startswith("✅ *INV-0001* is queued")
    [delivery] = await deliveries(session)
    assert delivery.show_notes is True


async def test_unticking_the_notes_box_stores_a_delivery_that_hides_notes(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, view, review_notes=False, fake_slack=fake_slack)

    assert texts(answer["view"]["blocks"])[0].startswith("✅ *INV-0001* is queued")
    [delivery] = await deliveries(session)
    assert delivery.show_notes is False


async def test_an_unticked_box_stays_unticked_when_the_form_comes_back_with_a_question(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")
    await submit(slack, view, fake_slack=fake_slack)  # sent once: a second send asks "send again?"
    again = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, again, review_notes=False, fake_slack=fake_slack)

    assert "review_resend" in input_blocks(answer["view"])
    assert "initial_options" not in input_blocks(answer["view"])["review_notes"]["element"]
