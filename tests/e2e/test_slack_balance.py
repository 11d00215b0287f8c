"""The outstanding balance wherever Slack shows an invoice's amount (issue 14 item 2), through
signed slash commands and clicks to the real web app and the fake Slack Web API: a partly paid
invoice reads "Total … · paid … · … left to pay", an unpaid one its total alone, a fully paid one is
no longer due."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Organisation
from tests import factories
from tests.harness.modals import open_review
from tests.harness.reading import texts
from tests.harness.slack import ALICE, TODAY, VERP_KEY, settings_with

settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)


async def _two_due_invoices(session: AsyncSession, org: Organisation) -> None:
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0001", due=date(2026, 11, 1), amount="1200.50")
    await factories.invoice(session, org.id, acme, number="INV-0002", due=TODAY, amount="100.00")
    await session.commit()


async def _command(slack: SlackRequestClient, fake_slack: FakeSlackApi, text: str) -> list[str]:
    answer = await slack.command(text, user=ALICE, response_url=fake_slack.response_url())
    assert answer.status_code == 200
    return texts(answer.json()["blocks"]) if answer.content and "blocks" in answer.json() else []


async def test_due_shows_total_paid_and_due_for_a_partly_paid_invoice_and_the_total_alone_otherwise(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _two_due_invoices(session, org)
    await _command(slack, fake_slack, "paid INV-0001 200")

    rows = await _command(slack, fake_slack, "due")

    assert rows[2] == (
        "*INV-0001* · Acme Corp\nTotal €1,440.60 · paid €200.00 · €1,240.60 left to pay · 22 days overdue "
        "(due 1 November 2026)\n✅ Ready to send"
    )
    assert rows[3].startswith("*INV-0002* · Acme Corp\n€120.00 · due today")


async def test_a_fully_paid_invoice_is_no_longer_in_the_due_list(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _two_due_invoices(session, org)
    await _command(slack, fake_slack, "paid INV-0001 200")
    await _command(slack, fake_slack, "paid INV-0001")  # the rest of the balance

    rows = await _command(slack, fake_slack, "due")

    assert rows[1].startswith("1 invoice to send")
    assert not any("INV-0001" in row for row in rows)


async def test_the_review_modal_shows_the_balance_of_a_partly_paid_invoice(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _two_due_invoices(session, org)
    await _command(slack, fake_slack, "paid INV-0001 440.60")

    view = await open_review(slack, fake_slack, "INV-0001")

    assert texts(view["blocks"])[0] == (
        "*INV-0001* · Acme Corp · *Total €1,440.60 · paid €440.60 · €1,000.00 left to pay*"
    )
    unpaid = await open_review(slack, fake_slack, "INV-0002")
    assert texts(unpaid["blocks"])[0] == "*INV-0002* · Acme Corp · *€120.00*"
