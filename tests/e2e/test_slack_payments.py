"""Recording payments from Slack, through signed requests to the real web app and the fake Slack:
`/invoices paid` answers with an ephemeral sentence, and the *Record payment* modal under
`/invoices show` opens with the balance and shows refusals under the amount."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, button_click, overflow_choice
from services.db.models import AuditLog, Invoice, InvoiceStatus, Organisation, Payment
from tests import factories
from tests.harness.reading import buttons, input_blocks, row_menus, state_values, texts
from tests.harness.slack import ALICE, TODAY, settings_with

NOBODY = SlackUserRef(id="U0NOBODY", team_id="T0OWN", name="nick")
settings = settings_with(INVOICEBOT_SENDERS=ALICE.id)  # Alice records payments; anyone else is refused


async def _sent_invoice(session: AsyncSession, org: Organisation, number: str = "ACME-1042") -> None:
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number=number, status=InvoiceStatus.SENT)  # 120.00 EUR
    await session.commit()


async def _paid(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[Decimal, str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Payment.amount, Payment.recorded_by, Payment.reference).order_by(Payment.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _status(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session:
        return str((await session.execute(select(Invoice.status))).scalar_one())


async def test_paid_command_records_partial_then_full_and_refuses_what_it_cannot(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _sent_invoice(session, org)

    async def said(text: str) -> str:
        answer = (await slack.command(text, user=ALICE, response_url=fake_slack.response_url())).json()
        assert answer["response_type"] == "ephemeral"
        return str(answer["text"])

    assert await said("paid ACME-1042 50 2026-11-20") == (
        "✅ Payment of 50.00 EUR recorded on ACME-1042; 70.00 EUR is still outstanding."
    )
    assert await said("paid ACME-1042 150") == (
        "ACME-1042 has 70.00 EUR outstanding; a payment of 150.00 EUR is more than that."
    )
    assert await said("paid ACME-1042 ten") == "'ten' is not an amount; write it like 120.50."
    assert await said("paid ACME-1042 5 2026-11-31") == (
        "'2026-11-31' is not a date; write it as YYYY-MM-DD, e.g. 2026-11-20."
    )
    assert await said("paid NOPE-1 5") == "There is no invoice 'NOPE-1'."
    assert await said("paid") == (
        "Which invoice? Try /invoices paid NUMBER [AMOUNT] [YYYY-MM-DD], e.g. /invoices paid INV-0042 50.00 2026-11-20."
    )
    assert await _status(sessions) == "sent"

    assert await said("paid ACME-1042") == "✅ Payment of 70.00 EUR recorded on ACME-1042; it is now paid in full."

    assert await _paid(sessions) == [(Decimal(50), ALICE.id, ""), (Decimal("70.00"), ALICE.id, "")]
    assert await _status(sessions) == "paid"
    async with sessions() as reading:
        actions = (await reading.execute(select(AuditLog.action).order_by(AuditLog.id))).scalars().all()
    assert actions == ["invoice.payment_recorded", "invoice.payment_recorded", "invoice.paid"]


async def test_only_senders_may_record_a_payment_from_slack(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _sent_invoice(session, org)

    answer = (await slack.command("paid ACME-1042 5", user=NOBODY, response_url=fake_slack.response_url())).json()

    assert answer["text"] == "You can't record payments: only senders can; ask an admin to add you to the senders."
    assert await _paid(sessions) == []


async def test_record_payment_modal_opens_with_the_balance_and_refuses_inline(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _sent_invoice(session, org)
    await slack.command("paid ACME-1042 20", user=ALICE, response_url=fake_slack.response_url())
    await slack.command("show ACME-1042", user=ALICE, response_url=fake_slack.response_url("show"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("show")) == 1)
    shown = fake_slack.responses_to("show")[0].body["blocks"]
    assert "*Paid:* €20.00 · *Outstanding:* €100.00" in texts(shown)[1]
    element, block_id = buttons(shown)["Record payment"]

    await slack.click(button_click(element, block_id=block_id), user=ALICE, response_url=fake_slack.response_url("b"))
    await fake_slack.wait_until(lambda: len(fake_slack.views) == 1)
    [modal] = fake_slack.views.values()

    assert "Paid 20.00 EUR · Outstanding 100.00 EUR" in texts(modal["blocks"])[0]
    fields = input_blocks(modal)
    assert fields["payment_amount"]["element"]["initial_value"] == "100.00"
    assert fields["payment_date"]["element"]["initial_date"] == TODAY.isoformat()

    too_much = await slack.submit(modal, state_values(modal, payment_amount="100.01"), user=ALICE)
    assert too_much.json() == {
        "response_action": "errors",
        "errors": {
            "payment_amount": "ACME-1042 has 100.00 EUR outstanding; a payment of 100.01 EUR is more than that."
        },
    }
    bad_amount = await slack.submit(modal, state_values(modal, payment_amount="1,5"), user=ALICE)
    assert bad_amount.json()["errors"] == {
        "payment_amount": "'1,5' is not an amount; write it like 120.50 (use a dot for decimals)."
    }
    assert await _paid(sessions) == [(Decimal(20), ALICE.id, "")]

    done = await slack.submit(modal, state_values(modal, payment_reference="BANK-77"), user=ALICE)

    finished = done.json()
    assert finished["response_action"] == "update"
    assert texts(finished["view"]["blocks"]) == [
        "✅ Payment of 100.00 EUR recorded on ACME-1042; it is now paid in full."
    ]
    assert await _paid(sessions) == [(Decimal(20), ALICE.id, ""), (Decimal("100.00"), ALICE.id, "BANK-77")]
    assert await _status(sessions) == "paid"


async def test_the_due_lists_row_menu_opens_the_same_modal(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0009", due=TODAY)  # validated, unsent: 120.00 EUR
    await session.commit()
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url("due"))).json()
    [(menu, block_id)] = row_menus(listing["blocks"])

    click = overflow_choice(menu, block_id=block_id, option_value="record_payment:INV-0009")
    await slack.click(click, user=ALICE, response_url=fake_slack.response_url("menu"))
    await fake_slack.wait_until(lambda: len(fake_slack.views) == 1)
    [modal] = fake_slack.views.values()

    assert input_blocks(modal)["payment_amount"]["element"]["initial_value"] == "120.00"
    done = await slack.submit(modal, state_values(modal, payment_amount="120"), user=ALICE)
    assert texts(done.json()["view"]["blocks"]) == [
        "✅ Payment of 120.00 EUR recorded on INV-0009; it is now paid in full."
    ]
    assert await _status(sessions) == "paid"
