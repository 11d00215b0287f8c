"""Forged modal metadata and domain sentences in modal field errors, through signed requests.

A view's `private_metadata` comes back from Slack as we sent it, but a forger with the
signing secret — or a bug — can send anything: a value nested thousands deep must be
answered with a sentence, not a 500 or a reference id. And a modal field error is
plain text: the domain sentence must appear as written, never as `&lt;`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Organisation
from tests.e2e.conftest import ALICE
from tests.e2e.test_slack_bulk import open_confirmation
from tests.e2e.test_slack_bulk import seed as seed_due
from tests.e2e.test_slack_review import deliveries, open_review, seed_invoice, settings, state_values, texts

__all__ = ["settings"]  # the e2e settings with a VERP key (a pytest fixture)

DEEP = "[" * 5000 + "]" * 5000  # past Python's recursion limit for json.loads


async def _submit(slack: SlackRequestClient, view: dict[str, Any]) -> dict[str, Any]:
    response = await slack.submit(view, state_values(view), user=ALICE)
    assert response.status_code == 200
    return response.json()


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
    await seed_due(session, org)
    view = await open_confirmation(slack, fake_slack)

    answer = await _submit(slack, {**view, "private_metadata": DEEP})

    assert answer["response_action"] == "update"
    assert texts(answer["view"]["blocks"]) == [
        "⚠️ This confirmation is from an older version of invoicebot; press Send all ready again.\nNothing was sent."
    ]
    assert await deliveries(session) == []


async def test_a_domain_sentence_in_a_modal_field_error_is_shown_as_written_not_escaped(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await _submit(slack, {**view, "private_metadata": '{"n":"INV<1> & co"}'})

    assert answer == {"response_action": "errors", "errors": {"review_to": "There is no invoice 'INV<1> & co'."}}
