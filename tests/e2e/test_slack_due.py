"""`/invoices due` and its buttons, through the real web app, Bolt and slack_sdk."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click, overflow_choice
from services.db.models import AuditLog, Invoice, InvoiceStatus, Organisation
from tests import factories
from tests.harness.reading import buttons, row_menus, texts
from tests.harness.seeding import seed_overdue
from tests.harness.slack import ALICE, TODAY


async def test_due_answers_with_each_invoice_its_amount_overdue_days_and_readiness(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    nomail = await factories.customer(session, org.id, ref="NOMAIL", name="No Mail <GmbH>", emails=())
    await factories.invoice(session, org.id, acme, number="INV-0001", due=date(2026, 11, 1), amount="1200.50")
    await factories.invoice(session, org.id, nomail, number="INV-0002", due=TODAY, status=InvoiceStatus.DRAFT)
    await factories.invoice(session, org.id, acme, number="INV-0003", due=date(2026, 12, 1))
    await session.commit()

    response = await slack.command("due", user=ALICE, response_url=fake_slack.response_url("c1"))

    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    read = texts(answer["blocks"])
    assert read[0] == "Due on or before 23 November 2026"
    assert read[1].startswith("2 invoices to send · page 1 of 1")
    assert read[2] == "*INV-0001* · Acme Corp\n€1,440.60 · 22 days overdue (due 1 November 2026)\n✅ Ready to send"
    assert read[3] == (
        "*INV-0002* · No Mail &lt;GmbH&gt;\n€120.00 · due today (due 23 November 2026)\n"
        "⚠️ Not ready: the customer has no recipient email; not validated (still a draft)"
    )
    labels = buttons(answer["blocks"])
    assert "Send all ready (1)" in labels
    assert "Next ▶" not in labels and "◀ Previous" not in labels
    [(ready_menu, _), (draft_menu, _)] = row_menus(answer["blocks"])
    assert [o["text"]["text"] for o in ready_menu["options"]] == ["Preview PDF", "Mark as sent", "Record payment"]
    assert [o["text"]["text"] for o in draft_menu["options"]] == ["Preview PDF", "Validate"]
    assert len(answer["blocks"]) <= 50
    assert fake_slack.calls_to("auth.test"), "Bolt checks its token against the (fake) Web API"


async def test_due_for_a_customer_lists_only_that_customers_invoices(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex", emails=("ap@globex.example",))
    await factories.invoice(session, org.id, acme, number="A-1", due=TODAY)
    await factories.invoice(session, org.id, globex, number="G-1", due=TODAY)
    await session.commit()

    answer = (await slack.command("due globex", user=ALICE, response_url=fake_slack.response_url())).json()
    nothing = (await slack.command("due nobody-like-this", user=ALICE, response_url=fake_slack.response_url())).json()

    read = texts(answer["blocks"])
    assert "1 invoice to send for “globex”" in read[1]
    assert [line.split(" · ")[0] for line in read[2:]] == ["*G-1*"]
    assert texts(nothing["blocks"]) == [
        "Nothing is due for “nobody-like-this”: no unsent invoice of a matching customer is due by today."
    ]


async def test_next_and_previous_replace_the_listing_with_the_other_page(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_overdue(session, org, count=12)
    first = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url("page"))).json()
    assert "page 1 of 2" in texts(first["blocks"])[1]
    next_button, footer = buttons(first["blocks"])["Next ▶"]

    response = await slack.click(
        button_click(next_button, block_id=footer), user=ALICE, response_url=fake_slack.response_url("page")
    )
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("page")) == 1)
    second = fake_slack.responses_to("page")[0].body
    assert second["replace_original"] is True
    read = texts(second["blocks"])
    assert "page 2 of 2" in read[1]
    assert [line.split(" · ")[0] for line in read[2:]] == ["*INV-0011*", "*INV-0012*"]
    previous_button, footer = buttons(second["blocks"])["◀ Previous"]
    assert "Next ▶" not in buttons(second["blocks"])

    await slack.click(
        button_click(previous_button, block_id=footer), user=ALICE, response_url=fake_slack.response_url("page")
    )
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("page")) == 2)
    back = fake_slack.responses_to("page")[1].body
    assert texts(back["blocks"])[2].startswith("*INV-0001*")


async def _statuses(session: AsyncSession) -> dict[str, str]:
    session.expire_all()
    rows = await session.execute(select(Invoice.number, Invoice.status))
    return {number: status for number, status in rows}


async def test_mark_as_sent_from_the_menu_marks_the_invoice_and_refreshes_the_listing(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_overdue(session, org, count=2)
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url("m"))).json()
    menu, block_id = row_menus(listing["blocks"])[0]

    click = overflow_choice(menu, block_id=block_id, option_value="mark_sent:INV-0001")
    assert (await slack.click(click, user=ALICE, response_url=fake_slack.response_url("m"))).status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("m")) == 1)

    refreshed = fake_slack.responses_to("m")[0].body
    assert refreshed["replace_original"] is True
    read = texts(refreshed["blocks"])
    assert read[0] == "✅ <@U0ALICE> marked as sent (no email was sent): *INV-0001*."
    assert [line.split(" · ")[0] for line in read[3:]] == ["*INV-0002*"]
    assert await _statuses(session) == {"INV-0001": "sent", "INV-0002": "validated"}
    sent = (await session.execute(select(Invoice).where(Invoice.number == "INV-0001"))).scalar_one()
    assert (sent.sent_via, sent.sent_by) == ("manual", "U0ALICE")
    audit = (await session.execute(select(AuditLog.actor, AuditLog.action))).all()
    assert audit == [("U0ALICE", "invoice.sent")]


async def test_validate_from_the_menu_makes_a_draft_ready(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="D-1", due=TODAY, status=InvoiceStatus.DRAFT)
    await session.commit()
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url("v"))).json()
    [(menu, block_id)] = row_menus(listing["blocks"])

    await slack.click(
        overflow_choice(menu, block_id=block_id, option_value="validate:D-1"),
        user=ALICE,
        response_url=fake_slack.response_url("v"),
    )
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("v")) == 1)

    read = texts(fake_slack.responses_to("v")[0].body["blocks"])
    assert read[0] == "✅ <@U0ALICE> validated: *D-1*."
    assert read[3].endswith("✅ Ready to send")
    assert await _statuses(session) == {"D-1": "validated"}


async def test_a_stale_menu_click_answers_why_and_changes_nothing(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="D-1", due=TODAY, status=InvoiceStatus.DRAFT)
    await session.commit()
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [(menu, block_id)] = row_menus(listing["blocks"])
    click = overflow_choice(menu, block_id=block_id, option_value="validate:D-1")
    await slack.click(click, user=ALICE, response_url=fake_slack.response_url("first"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("first")) == 1)

    await slack.click(click, user=ALICE, response_url=fake_slack.response_url("again"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("again")) == 1)

    answer = fake_slack.responses_to("again")[0].body
    assert answer == {
        "text": "Invoice D-1 is already validated.",
        "response_type": "ephemeral",
        "replace_original": False,
    }
    audit = (await session.execute(select(AuditLog.action))).scalars().all()
    assert audit == ["invoice.validated"]


async def test_mark_as_sent_on_an_unknown_invoice_says_so(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_overdue(session, org, count=1)
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [(menu, block_id)] = row_menus(listing["blocks"])
    forged = {**menu, "options": [{"text": {"type": "plain_text", "text": "x"}, "value": "mark_sent:NOPE-1"}]}

    await slack.click(
        overflow_choice(forged, block_id=block_id, option_value="mark_sent:NOPE-1"),
        user=ALICE,
        response_url=fake_slack.response_url("nf"),
    )
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("nf")) == 1)
    assert fake_slack.responses_to("nf")[0].body["text"] == "There is no invoice 'NOPE-1'."
    assert await _statuses(session) == {"INV-0001": "validated"}
