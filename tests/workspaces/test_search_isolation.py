"""`/invoices find` and `/invoices sent` answer from the requester's organisation only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Delivery, InvoiceStatus, Organisation
from tests import factories
from tests.harness.reading import texts
from tests.harness.workspaces import ANN, TOM, Browser, organisation_of


async def test_find_and_sent_never_show_another_workspaces_invoices(
    browser: Browser, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    organisations = {}
    for team in ("T0ONE", "T0TWO"):
        assert (await browser.install(team)).status_code == 200
        organisations[team] = await organisation_of(session, team)
    for team, number in (("T0ONE", "ONE-1250"), ("T0TWO", "TWO-1250")):
        organisation = organisations[team]
        assert organisation is not None
        # Same customer name, same amount, numbers that both contain the text searched.
        customer = await factories.customer(session, organisation.id, ref="ACME")
        invoice = await factories.invoice(
            session, organisation.id, customer, number=number, amount="1041.67", status=InvoiceStatus.SENT
        )
        session.add(
            Delivery(
                organisation_id=organisation.id,
                invoice_id=invoice.id,
                status="bounced",
                to=["ap@acme.example"],
                message_id=f"<{number}@invoicebot.example>",
                verp_token=number,
                requested_by=f"U0{number}",
            )
        )
    await session.commit()

    for user, own, other in ((ANN, "ONE-1250", "TWO-1250"), (TOM, "TWO-1250", "ONE-1250")):
        for command in ("find 1250", "find acme", "find EUR 1250.00", "find -", "sent acme bounced", "sent"):
            answer = await slack.command(command, user=user, response_url=fake_slack.response_url(user.id))
            seen = " ".join(texts(answer.json()["blocks"]))
            assert own in seen, (user.team_id, command, seen)
            assert other not in seen, (user.team_id, command, seen)
