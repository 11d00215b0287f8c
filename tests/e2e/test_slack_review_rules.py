"""The review modal holds its fields to the same rules as the import (`services.field_rules`):
a value that could not be sent comes back inline on its own field and creates no delivery."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Organisation
from tests.harness.modals import open_review, submit
from tests.harness.reading import state_values, texts
from tests.harness.seeding import seed_invoice
from tests.harness.sending import deliveries
from tests.harness.slack import ALICE, VERP_KEY, settings_with

# The e2e settings plus a VERP key, so a send signs its token without writing a key file.
settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)


def chosen(value: str) -> dict[str, object]:
    """An option Slack never offered: what an outdated modal or a hand-made payload sends."""
    return {"text": {"type": "plain_text", "text": value}, "value": value}


async def test_bidi_and_control_characters_come_back_on_the_subject_and_message_fields(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")
    values = state_values(view, review_subject="Invoice \u202e1000-VNI", review_message="Hello,\n\nplease\x00pay.")

    response = await slack.submit(view, values, user=ALICE)

    assert response.status_code == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            "review_subject.en": "The subject contains the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE) "
            "at position 9; remove it (control and text-direction characters cannot be sent)",
            "review_message.en": "The message contains the invisible character U+0000 at position 15; "
            "remove it (control and text-direction characters cannot be sent)",
        },
    }
    assert await deliveries(session) == []


async def test_an_unknown_language_or_attachments_choice_is_refused_never_read_as_english_or_pdf(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")
    values = state_values(view)
    values["review_language"]["review_language"]["selected_option"] = chosen("klingon-x")
    values["review_attachments"]["input"]["selected_option"] = chosen("zip")

    response = await slack.submit(view, values, user=ALICE)

    assert response.status_code == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            "review_language": "The language 'klingon-x' is not one of the supported languages: en, fr, de, nl, es, it",
            "review_attachments": "The attachments choice 'zip' is not one of: pdf, ubl, pdf+ubl, none",
        },
    }
    assert await deliveries(session) == []


async def test_a_multi_line_message_with_tabs_is_accepted(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(
        slack, view, review_message="Hello,\n\tyour invoice — שלום is attached.", fake_slack=fake_slack
    )

    assert texts(answer["view"]["blocks"])[0].startswith("✅ *INV-0001* is queued")
    [delivery] = await deliveries(session)
    assert delivery.body_text == "Hello,\n\tyour invoice — שלום is attached.\n"
