"""Addresses the mail server cannot carry are refused where they are typed, naming the field.

Whether the organisation's server offers SMTPUTF8 is what `invoicebot smtp verify` recorded
(`Organisation.smtp_utf8`); unknown counts as no. An IDN domain needs nothing of the server.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from handlers.ids import BlockId
from services.db.models import Customer, Organisation
from tests.harness.modals import open_fix_modal, open_review, submit, submit_fix
from tests.harness.reading import fix_notice, notice
from tests.harness.seeding import seed_invoice
from tests.harness.sending import deliveries, failed_send
from tests.harness.slack import VERP_KEY, settings_with

# The e2e settings plus a VERP key, so a send signs its token without writing a key file.
settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)
pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


NO_SMTPUTF8 = "zoë@… has a non-ASCII name before the @; your mail server does not accept such addresses (no SMTPUTF8)"


async def test_the_review_modal_refuses_a_non_ascii_name_in_cc_when_the_server_lacks_smtputf8(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    assert org.smtp_utf8 is None  # never verified: unknown counts as no
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(
        slack, view, review_to="ap@bücher.example", review_cc="zoë@example.com", fake_slack=fake_slack
    )

    assert answer["response_action"] == "update"  # SMTPUTF8 is the organisation's: judged after the ack
    assert notice(answer["view"]) == f"⚠️ {NO_SMTPUTF8}"
    assert await deliveries(session) == []


async def test_the_review_modal_accepts_an_idn_domain_and_a_non_ascii_name_once_the_server_offers_smtputf8(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    org.smtp_utf8 = True
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(
        slack, view, review_to="ap@Bücher.example", review_cc="zoë@example.com", fake_slack=fake_slack
    )

    assert answer["response_action"] == "update", answer
    [delivery] = await deliveries(session)
    assert (delivery.to, delivery.cc) == (["ap@bücher.example"], ["zoë@example.com"])


async def test_the_fix_address_modal_refuses_a_non_ascii_name_when_the_server_lacks_smtputf8(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    _delivery, _status, alert = await failed_send(session, sessions, org, smtp, transport, notifier, fake_slack)
    modal = await open_fix_modal(slack, fake_slack, alert)
    typed: dict[str, Any] = {BlockId.FIX_EMAILS: {"emails": {"type": "plain_text_input", "value": "zoë@example.com"}}}

    refused = await submit_fix(slack, fake_slack, modal, typed)

    assert fix_notice(refused["view"]) == f"⚠️ {NO_SMTPUTF8}"  # SMTPUTF8 is the organisation's: after the ack
    async with sessions() as check:
        assert await check.scalar(select(Customer.emails)) == ["ap@acme.example"]  # nothing saved
