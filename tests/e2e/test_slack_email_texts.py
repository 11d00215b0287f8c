"""The admins' *Email texts* modals, through the real web app with signed requests and the fake Slack:
the settings modal's button pushes the list, *Add a text* pushes the form, a bad template is refused
inline on its field (nothing saved), a good one is saved, audited and listed; a non-admin is refused
with a sentence; deleting a customer's default is refused naming the customer."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, block_actions_body, button_click
from handlers.ids import ActionId
from services.db.models import AuditLog, Customer, EmailText, Organisation
from tests.harness.reading import input_blocks, state_values, texts
from tests.harness.seeding import seed_invoice
from tests.harness.slack import ALICE, BOB, settings_with

settings = settings_with(INVOICEBOT_ADMINS="U0ALICE", INVOICEBOT_SECRET_KEY="test-verp-secret")


def _latest_view(fake_slack: FakeSlackApi) -> dict[str, Any]:
    return dict(fake_slack.views[list(fake_slack.views)[-1]])


async def _click_in_view(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    view: dict[str, Any],
    action_id: str,
    *,
    user: SlackUserRef = ALICE,
    index: int = 0,
) -> None:
    """Click the `index`th button with `action_id` in `view`, as Slack sends a click inside a modal."""
    found = [
        (block, element)
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == action_id
    ]
    block, element = found[index]
    body = block_actions_body(
        action=button_click(element, block_id=block.get("block_id", "b")), user=user, response_url=""
    )
    payload = json.loads(parse_qs(body)["payload"][0])
    payload["container"] = {"type": "view", "view_id": view["id"]}
    payload["view"] = {**view, "state": {"values": {}}}
    del payload["response_url"]
    calls = len(fake_slack.calls)
    assert (await slack.post(urlencode({"payload": json.dumps(payload)}))).status_code == 200
    await fake_slack.wait_until(
        lambda: any(c.method in ("views.push", "views.update") for c in fake_slack.calls[calls:])
    )


async def _texts_list(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef = ALICE
) -> dict[str, Any]:
    """`/invoices settings` (Alice), then *Email texts* clicked by `user`: the view pushed over the settings."""
    await slack.command("settings", user=ALICE, response_url=fake_slack.response_url())
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.open")))
    settings_view = _latest_view(fake_slack)
    await _click_in_view(slack, fake_slack, settings_view, ActionId.OPEN_EMAIL_TEXTS, user=user)
    [pushed] = fake_slack.calls_to("views.push")
    return _latest_view(fake_slack) | {"title": pushed.args["view"]["title"]}


async def _rows(session: AsyncSession) -> list[tuple[str, str]]:
    session.expire_all()
    return [(row.name, row.language) for row in await session.scalars(select(EmailText).order_by(EmailText.id))]


async def test_an_admin_adds_a_text_a_bad_template_is_refused_inline_and_a_good_one_is_listed(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    listing = await _texts_list(slack, fake_slack)
    assert listing["title"]["text"] == "Email texts"
    assert any(text.startswith("*Standard*") for text in texts(listing["blocks"]))
    await _click_in_view(slack, fake_slack, listing, ActionId.ADD_EMAIL_TEXT)
    form = _latest_view(fake_slack)
    assert set(input_blocks(form)) == {
        "email_text_name", "email_text_language", "email_text_subject", "email_text_message",
    }  # fmt: skip

    typed = {
        "email_text_name": "Friendly reminder",
        "email_text_language": "fr",
        "email_text_subject": "Petit rappel : {{ invoice_number }}",
    }
    bad = await slack.submit(
        form, state_values(form, **typed, email_text_message="Bonjour,\n{{ montant }}\n"), user=ALICE
    )
    assert bad.json()["response_action"] == "errors"
    assert bad.json()["errors"]["email_text_message"].startswith("Line 2: 'montant' is undefined")
    assert await _rows(session) == []

    good = await slack.submit(
        form, state_values(form, **typed, email_text_message="Bonjour {{ customer_name }},\n{{ amount }}\n"), user=ALICE
    )
    assert good.status_code == 200 and not good.content, "a plain ack closes the form, back to the list"
    await fake_slack.wait_until(
        lambda: any(c.args.get("view_id") == listing["id"] for c in fake_slack.calls_to("views.update"))
    )
    refreshed = fake_slack.views[listing["id"]]
    shown = texts(refreshed["blocks"])
    assert shown[0] == "✅ “Friendly reminder” (fr) is added."
    assert "*Friendly reminder* · Français\nPetit rappel : {{ invoice_number }}" in shown
    assert await _rows(session) == [("Friendly reminder", "fr")]
    actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.actor == ALICE.id)))
    assert actions == ["email_text.saved"]


async def test_a_non_admin_is_told_why_and_sees_no_texts(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    session.add(EmailText(organisation_id=org.id, name="Secret", language="en", subject="S", message="M"))
    await session.commit()

    refused = await _texts_list(slack, fake_slack, user=BOB)

    [sentence] = texts(refused["blocks"])
    assert "You can't change the email templates: only admins can" in sentence
    assert "Secret" not in json.dumps(refused)


async def test_deleting_a_customers_default_is_refused_naming_the_customer_and_another_text_is_deleted(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    for name in ("Project closing", "Old wording"):
        session.add(
            EmailText(organisation_id=org.id, name=name, language="en", subject="S {{ invoice_number }}", message="M")
        )
    acme = (await session.execute(select(Customer))).scalar_one()
    acme.default_email_text = "Project closing"
    await session.commit()
    listing = await _texts_list(slack, fake_slack)

    await _click_in_view(slack, fake_slack, listing, ActionId.DELETE_EMAIL_TEXT, index=1)  # by name: Project closing
    refused = texts(fake_slack.views[listing["id"]]["blocks"])[0]
    updates = len(fake_slack.calls_to("views.update"))
    await _click_in_view(slack, fake_slack, fake_slack.views[listing["id"]], ActionId.DELETE_EMAIL_TEXT, index=0)
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.update")) > updates)

    assert refused == "⚠️ “Project closing” is the default text of Acme Corp: choose another default for it first."
    assert texts(fake_slack.views[listing["id"]]["blocks"])[0] == "🗑️ “Old wording” (en) is deleted."
    assert await _rows(session) == [("Project closing", "en")]
