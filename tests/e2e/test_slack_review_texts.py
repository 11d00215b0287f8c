"""Preset email texts in the review modal, through the real web app, Bolt and slack_sdk against the
fake Slack Web API, and the production worker at a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, block_actions_body
from bot.sandbox.smtp_server import ScriptedSmtpServer
from handlers.ids import ActionId
from services.db.models import Customer, EmailText, Organisation
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, state_values
from tests.harness.seeding import seed_invoice
from tests.harness.slack import ALICE, slack_settings

FRIENDLY_SUBJECT = "A friendly reminder: {{ invoice_number }}"
CLOSING_SUBJECT = "Project closed: final invoice {{ invoice_number }}"


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer) -> Settings:
    return slack_settings(
        database_url,
        fake_slack,
        INVOICEBOT_SMTP_PORT=str(smtp.port),
        INVOICEBOT_SMTP_SECURITY="none",
        INVOICEBOT_SECRET_KEY="test-verp-secret",
    )


async def _with_presets(session: AsyncSession, org: Organisation, *, default: str | None) -> None:
    """INV-0001 for Acme, two English presets and a French one; Acme's default text is `default`."""
    await seed_invoice(session, org)
    for name, language, subject in (
        ("Friendly reminder", "en", FRIENDLY_SUBJECT),
        ("Project closing", "en", CLOSING_SUBJECT),
        ("Friendly reminder", "fr", "Petit rappel : {{ invoice_number }}"),
    ):
        message = f"Dear {{{{ customer_name }}}},\n\n{name} about {{{{ invoice_number }}}} ({{{{ amount }}}}).\n"
        session.add(EmailText(organisation_id=org.id, name=name, language=language, subject=subject, message=message))
    acme = (await session.execute(select(Customer))).scalar_one()
    acme.default_email_text = default
    await session.commit()


async def _choose(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, view: dict[str, Any], **typed: Any
) -> dict[str, Any]:
    """Pick in the *Text* select as Slack sends it (block_actions from the view); the view after views.update."""
    values = state_values(view, **typed)
    action = {
        "type": "static_select",
        "action_id": ActionId.REVIEW_TEXT,
        "block_id": "review_text",
        "selected_option": values["review_text"][ActionId.REVIEW_TEXT]["selected_option"],
    }
    payload = json.loads(parse_qs(block_actions_body(action=action, user=ALICE, response_url=""))["payload"][0])
    payload["container"] = {"type": "view", "view_id": view["id"]}
    payload["view"] = {**view, "state": {"values": values}}
    del payload["response_url"]
    updates = len(fake_slack.calls_to("views.update"))
    assert (await slack.post(urlencode({"payload": json.dumps(payload)}))).status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.update")) > updates)
    return fake_slack.views[view["id"]]


def _wording(view: dict[str, Any]) -> tuple[str, str]:
    inputs = input_blocks(view)
    [subject] = [b for block_id, b in inputs.items() if block_id.startswith("review_subject.")]
    [message] = [b for block_id, b in inputs.items() if block_id.startswith("review_message.")]
    return subject["element"]["initial_value"], message["element"]["initial_value"]


async def test_the_review_offers_the_languages_texts_preselecting_the_customers_default(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _with_presets(session, org, default="Project closing")

    view = await open_review(slack, fake_slack, "INV-0001")

    select_block = input_blocks(view)["review_text"]
    assert select_block["dispatch_action"] is True
    options = [option["value"] for option in select_block["element"]["options"]]
    assert options == ["Standard", "Friendly reminder", "Project closing"]
    assert select_block["element"]["initial_option"]["value"] == "Project closing"
    subject, message = _wording(view)
    assert subject == "Project closed: final invoice INV-0001"
    assert message.startswith("Dear Acme Corp,\n\nProject closing about INV-0001 (€1,440.60).")


async def test_without_a_default_the_review_starts_with_standard_and_a_language_without_presets_has_no_select(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _with_presets(session, org, default=None)
    await session.execute(EmailText.__table__.delete().where(EmailText.language == "en"))
    await session.commit()

    view = await open_review(slack, fake_slack, "INV-0001")

    assert "review_text" not in input_blocks(view)
    assert _wording(view)[0].startswith("Invoice INV-0001")


async def test_choosing_a_text_replaces_subject_and_message_and_the_email_carries_it(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    settings: Settings,
    smtp: ScriptedSmtpServer,
):
    await _with_presets(session, org, default=None)
    view = await open_review(slack, fake_slack, "INV-0001")
    assert input_blocks(view)["review_text"]["element"]["initial_option"]["value"] == "Standard"

    chosen = await _choose(
        slack, fake_slack, view, review_text="Friendly reminder", review_to="compta@acme.example",
        review_subject="typed over, replaced by the text",
    )  # fmt: skip

    inputs = input_blocks(chosen)
    assert inputs["review_text"]["element"]["initial_option"]["value"] == "Friendly reminder"
    assert inputs["review_to"]["element"]["initial_value"] == "compta@acme.example", "recipients stay as typed"
    subject, message = _wording(chosen)
    assert subject == "A friendly reminder: INV-0001"
    assert "Friendly reminder about INV-0001" in message
    assert not any(block_id == "review_subject.en" for block_id in inputs), "a new block id shows the new wording"

    await submit(slack, chosen, fake_slack=fake_slack)
    worker_runtime = bootstrap(settings, loops=[Loop.WORKER])
    assert worker_runtime.worker is not None
    try:
        assert await worker_runtime.worker.drain() == 1
    finally:
        await worker_runtime.aclose()

    [received] = smtp.received
    email = message_from_bytes(received.data, policy=policy.default)
    assert isinstance(email, EmailMessage)
    assert email["Subject"] == "A friendly reminder: INV-0001"
    assert email["To"] == "compta@acme.example"
    text = email.get_body(("plain",))
    assert text is not None and "Friendly reminder about INV-0001" in text.get_content()


async def test_switching_language_keeps_the_chosen_text_where_the_language_has_it(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _with_presets(session, org, default="Friendly reminder")
    view = await open_review(slack, fake_slack, "INV-0001")
    values = state_values(view, review_language="fr")
    action = {
        "type": "static_select",
        "action_id": ActionId.REVIEW_LANGUAGE,
        "block_id": "review_language",
        "selected_option": values["review_language"][ActionId.REVIEW_LANGUAGE]["selected_option"],
    }
    payload = json.loads(parse_qs(block_actions_body(action=action, user=ALICE, response_url=""))["payload"][0])
    payload["container"] = {"type": "view", "view_id": view["id"]}
    payload["view"] = {**view, "state": {"values": values}}
    del payload["response_url"]
    updates = len(fake_slack.calls_to("views.update"))
    assert (await slack.post(urlencode({"payload": json.dumps(payload)}))).status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.update")) > updates)

    french = fake_slack.views[view["id"]]
    assert input_blocks(french)["review_text"]["element"]["initial_option"]["value"] == "Friendly reminder"
    assert _wording(french)[0] == "Petit rappel : INV-0001"
