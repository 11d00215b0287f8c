"""*Review & send* through the real web app, Bolt and slack_sdk against the fake Slack Web API.

Each test clicks as a person would, reads the modal the fake Slack holds, submits it with
the values Slack would send, and checks the answer Slack received and the database rows.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import (
    SlackRequestClient,
    SlackUserRef,
    block_actions_body,
    button_click,
    overflow_choice,
    view_submission_body,
)
from handlers.ids import ActionId
from services.db.models import DeliveryKind, Invoice, InvoiceStatus, Organisation, Suppression
from tests import factories
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, notice, state_values, texts
from tests.harness.seeding import seed_invoice
from tests.harness.sending import deliveries
from tests.harness.slack import ALICE, VERP_KEY, settings_with

# The e2e settings plus a VERP key, so a send signs its token without writing a key file.
settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)


async def test_review_opens_a_loading_modal_at_once_then_fills_it_with_the_invoice_defaults(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [row] = [b for b in listing["blocks"] if b.get("block_id", "").startswith("due_row")]
    review_button = row["elements"][0]

    await slack.click(button_click(review_button, block_id=row["block_id"]), user=ALICE, response_url="http://x")
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.update")))

    [opened] = fake_slack.calls_to("views.open")
    assert texts(opened.args["view"]["blocks"]) == ["⏳ Loading…"]
    [update] = fake_slack.calls_to("views.update")
    assert update.args["hash"], "the update names the hash of the Loading view"
    view = fake_slack.views[update.args["view_id"]]
    print(json.dumps(view, indent=1, ensure_ascii=False))
    assert view["title"]["text"] == "Send invoice" and view["submit"]["text"] == "Send"
    assert json.loads(view["private_metadata"]) == {"n": "INV-0001"}
    assert texts(view["blocks"])[0] == "*INV-0001* · Acme Corp · *€1,440.60*"
    inputs = input_blocks(view)
    assert inputs["review_to"]["element"]["initial_value"] == "ap@acme.example"
    assert inputs["review_subject.en"]["element"]["initial_value"].startswith("Invoice INV-0001")
    assert "INV-0001" in inputs["review_message.en"]["element"]["initial_value"]
    assert inputs["review_language"]["element"]["initial_option"]["value"] == "en"
    assert inputs["review_language"]["dispatch_action"] is True
    assert inputs["review_attachments"]["element"]["initial_option"]["value"] == "pdf"
    assert "review_override" not in inputs and "review_resend" not in inputs
    assert len(view["blocks"]) < 100


async def test_a_bad_address_comes_back_inline_on_the_to_field_and_creates_no_delivery(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(
        slack, view, review_to="ap@acme.example, not-an-address", review_subject="", fake_slack=fake_slack
    )

    assert answer["response_action"] == "errors"
    assert answer["errors"] == {
        "review_to": "'not-an-address' is not a valid email address",
        "review_subject.en": "Give the email a subject",
    }
    assert await deliveries(session) == []


async def test_submitting_the_modal_queues_one_delivery_with_what_was_typed(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(
        slack, view, review_to="ap@acme.example; boss@acme.example", review_cc="cfo@acme.example",
        review_subject="Your invoice", review_attachments="pdf+ubl", fake_slack=fake_slack,
    )  # fmt: skip

    assert answer["response_action"] == "update"
    assert texts(answer["view"]["blocks"])[0].startswith("✅ *INV-0001* is queued")
    [delivery] = await deliveries(session)
    assert (delivery.to, delivery.cc, delivery.subject) == (
        ["ap@acme.example", "boss@acme.example"], ["cfo@acme.example"], "Your invoice"
    )  # fmt: skip
    assert (delivery.status, delivery.attachments, delivery.requested_by) == ("queued", "pdf+ubl", ALICE.id)
    assert delivery.idempotency_key == view["id"]


async def test_a_double_submit_creates_one_delivery(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    first, second = await asyncio.gather(
        submit(slack, view, fake_slack=fake_slack), submit(slack, view, fake_slack=fake_slack)
    )
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.update")) == 3)  # the open's, then one each
    retried = await slack.post(
        view_submission_body(view=view, values=state_values(view), user=ALICE),
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )

    assert first["response_action"] == second["response_action"] == "update"
    assert all(texts(call.args["view"]["blocks"])[0].startswith("✅ *INV-0001* is queued")
               for call in fake_slack.calls_to("views.update")[1:])  # fmt: skip
    assert retried.status_code == 200
    assert len(await deliveries(session)) == 1


async def test_a_suppressed_address_is_shown_with_its_reason_and_needs_the_override(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    session.add(Suppression(organisation_id=org.id, email="ap@acme.example", reason="hard_bounce"))
    await session.commit()
    view = await open_review(slack, fake_slack, "INV-0001")

    override = input_blocks(view)["review_override"]
    assert (
        "ap@acme.example is on the suppression list (bounced permanently"
        in override["element"]["options"][0]["description"]["text"]
    )
    assert any("🚫 ap@acme.example is on the suppression list" in t for t in texts(view["blocks"]))
    refused = await submit(slack, view, fake_slack=fake_slack)
    assert refused["response_action"] == "update"
    assert "⚠️ ap@acme.example is on the suppression list" in notice(refused["view"])
    assert "tick 'send anyway' to override" in notice(refused["view"])
    assert "review_override" in input_blocks(refused["view"])
    assert await deliveries(session) == []

    accepted = await submit(slack, view, review_override=True, fake_slack=fake_slack)
    assert accepted["response_action"] == "update"
    [delivery] = await deliveries(session)
    assert delivery.override_suppression is True


async def test_a_suppressed_address_typed_by_hand_brings_the_override_into_the_modal_keeping_what_was_typed(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    session.add(Suppression(organisation_id=org.id, email="old@acme.example", reason="complaint"))
    await session.commit()
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(
        slack, view, review_to="old@acme.example", review_message="Hello, here it is.", fake_slack=fake_slack
    )

    assert answer["response_action"] == "update"
    rebuilt = input_blocks(answer["view"])
    assert rebuilt["review_to"]["element"]["initial_value"] == "old@acme.example"
    assert rebuilt["review_message.en"]["element"]["initial_value"] == "Hello, here it is."
    assert "review_override" in rebuilt
    assert await deliveries(session) == []


async def test_a_recent_send_is_named_with_who_and_when_and_needs_send_again_anyway(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    await submit(slack, await open_review(slack, fake_slack, "INV-0001"), fake_slack=fake_slack)

    again = await open_review(slack, fake_slack, "INV-0001", user=SlackUserRef(id="U0BOB", name="bob"))

    assert "🔁 INV-0001 is being sent right now (asked just now by <@U0ALICE>) — send again?" in texts(again["blocks"])
    assert "review_resend" in input_blocks(again)
    refused = await submit(slack, again, user=SlackUserRef(id="U0BOB", name="bob"), fake_slack=fake_slack)
    assert "⚠️ Tick “Send again anyway” to send it again." in notice(refused["view"])
    assert "review_resend" in input_blocks(refused["view"])
    assert len(await deliveries(session)) == 1
    confirmed = await submit(
        slack, again, user=SlackUserRef(id="U0BOB", name="bob"), review_resend=True, fake_slack=fake_slack
    )
    assert confirmed["response_action"] == "update"
    assert len(await deliveries(session)) == 2


async def test_switching_the_language_rewrites_subject_and_message_and_keeps_the_recipients_typed(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")
    values = state_values(view, review_to="compta@acme.example", review_language="fr")
    action = {
        "type": "static_select",
        "action_id": ActionId.REVIEW_LANGUAGE,
        "block_id": "review_language",
        "selected_option": values["review_language"][ActionId.REVIEW_LANGUAGE]["selected_option"],
    }
    body = block_actions_body(action=action, user=ALICE, response_url="")
    payload = json.loads(parse_qs(body)["payload"][0])
    payload["container"] = {"type": "view", "view_id": view["id"]}
    payload["view"] = {**view, "state": {"values": values}}
    del payload["response_url"]
    updates = len(fake_slack.calls_to("views.update"))
    response = await slack.post(urlencode({"payload": json.dumps(payload)}))
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.update")) > updates)

    french = fake_slack.views[view["id"]]
    inputs = input_blocks(french)
    assert inputs["review_to"]["element"]["initial_value"] == "compta@acme.example"
    assert inputs["review_language"]["element"]["initial_option"]["value"] == "fr"
    assert "review_subject.en" not in inputs
    assert inputs["review_subject.fr"]["element"]["initial_value"].startswith("Facture INV-0001")
    assert "1\u202f440,60\xa0€" in inputs["review_message.fr"]["element"]["initial_value"]


async def test_send_me_a_preview_first_queues_a_preview_to_the_requesters_own_address(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    fake_slack.add_user(ALICE.id, email="alice@example.com")
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, view, review_options=True, fake_slack=fake_slack)

    assert "A preview is on its way to your email address." in texts(answer["view"]["blocks"])[0]
    [preview] = await deliveries(session, DeliveryKind.PREVIEW)
    assert preview.to == ["alice@example.com"]
    assert fake_slack.calls_to("users.info")[-1].args["user"] == ALICE.id


async def test_preview_pdf_answers_with_a_short_lived_signed_link_to_the_pdf(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [row] = [b for b in listing["blocks"] if b.get("block_id", "").startswith("due_row")]
    menu = row["elements"][1]

    choice = overflow_choice(menu, block_id=row["block_id"], option_value="preview_pdf:INV-0001")
    await slack.click(choice, user=ALICE, response_url=fake_slack.response_url("pdf"))
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to("pdf")))

    [answer] = fake_slack.responses_to("pdf")
    invoice_id = (await session.execute(select(Invoice.id))).scalar()
    assert answer.body["response_type"] == "ephemeral"
    assert f"<http://localhost:3000/p/{invoice_id}." in texts(answer.body["blocks"])[0]
    assert "(this link works for 15 minutes)" in texts(answer.body["blocks"])[0]


async def test_a_draft_invoice_shows_why_at_the_top_and_its_submission_is_answered_on_the_form(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0009", status=InvoiceStatus.DRAFT)
    await session.commit()
    view = await open_review(slack, fake_slack, "INV-0009")

    assert "⚠️ not validated (still a draft)" in texts(view["blocks"])[1]
    answer = await submit(slack, view, fake_slack=fake_slack)

    assert answer["response_action"] == "update"
    assert notice(answer["view"]) == "⚠️ Invoice INV-0009 is still a draft: validate it before sending it."
    assert "review_to" in input_blocks(answer["view"])  # the way back: the form, as typed
    assert await deliveries(session) == []


async def test_review_of_an_unknown_invoice_says_so_in_the_modal(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    view = await open_review(slack, fake_slack, "NOPE-1")

    assert texts(view["blocks"]) == ["⚠️ There is no invoice 'NOPE-1'."]
    assert "submit" not in view
