"""Forged modal metadata and domain sentences in modal field errors, through signed requests.

A view's `private_metadata` comes back from Slack as we sent it, but a forger with the
signing secret — or a bug — can send anything: a value nested thousands deep must be
answered with a sentence, not a 500 or a reference id. And a modal field error is
plain text: the domain sentence must appear as written, never as `&lt;`.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from handlers.ids import BlockId, CallbackId
from handlers.parsing import row_id_of
from services.db.models import Organisation
from services.errors import InvalidInput
from tests.harness.modals import open_confirmation, open_review, submit
from tests.harness.reading import state_values, texts
from tests.harness.seeding import seed_invoice, seed_ready_and_draft
from tests.harness.sending import deliveries
from tests.harness.slack import ALICE, VERP_KEY, settings_with

# The e2e settings plus a VERP key, so a send signs its token without writing a key file.
settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)


DEEP = "[" * 5000 + "]" * 5000  # past Python's recursion limit for json.loads


async def _submit(slack: SlackRequestClient, view: dict[str, Any]) -> dict[str, Any]:
    response = await slack.submit(view, state_values(view), user=ALICE)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_review_submission_with_deeply_nested_metadata_is_answered_with_a_sentence(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    for forged in (DEEP, '{"n": ' + DEEP + "}", '{"n": 12}', "[1]"):
        answer = await _submit(slack, {**view, "private_metadata": forged})
        assert answer["response_action"] == "errors"
        assert list(answer["errors"].values()) == [
            "This form is from an older version of invoicebot; press Review & send again."
        ]
    assert await deliveries(session) == []


async def test_a_bulk_confirmation_with_deeply_nested_metadata_is_answered_with_a_sentence(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_ready_and_draft(session, org)
    view = await open_confirmation(slack, fake_slack)

    answer = await _submit(slack, {**view, "private_metadata": DEEP})

    assert answer["response_action"] == "update"
    assert texts(answer["view"]["blocks"]) == [
        "⚠️ This confirmation is from an older version of invoicebot; press Send all ready again.\nNothing was sent."
    ]
    assert await deliveries(session) == []


async def test_a_domain_sentence_quoting_markup_is_shown_as_written_where_the_send_is_answered(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")
    forged = {**view, "private_metadata": '{"n":"INV<1> & co"}'}

    # the invoice is looked up after the ack, so the sentence arrives in the updated view (mrkdwn:
    # escaped once, so Slack shows it as written), never as a lost modal
    answer = await submit(slack, forged, fake_slack=fake_slack)

    assert answer["response_action"] == "update"
    assert any("There is no invoice 'INV&lt;1&gt; &amp; co'." in text for text in texts(answer["view"]["blocks"]))
    assert await deliveries(session) == []


async def test_a_fix_address_submission_naming_a_send_id_too_large_for_any_row_answers_a_sentence(
    slack: SlackRequestClient, session: AsyncSession, org: Organisation
):
    view = {"id": "V0FORGED", "callback_id": CallbackId.FIX_ADDRESS, "private_metadata": "1" + "0" * 30, "blocks": []}

    answer = await _submit(slack, view)

    assert answer == {
        "response_action": "errors",
        "errors": {BlockId.FIX_EMAILS: "This button is from an older message; run /invoices problems instead."},
    }


@pytest.mark.parametrize("raw", ["", "0", "-1", "+1", " 1", "1e3", "١٢", "9223372036854775808", "1" + "0" * 30])
def test_a_row_id_is_digits_within_a_database_integer(raw: str) -> None:
    with pytest.raises(InvalidInput, match=r"^stale$"):
        row_id_of(raw, stale="stale")
    assert row_id_of("9223372036854775807", stale="stale") == 2**63 - 1
