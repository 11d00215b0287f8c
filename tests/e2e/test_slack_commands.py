"""`/invoices help`, `show`, unknown text, and the commands not built yet."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Delivery, Organisation
from tests import factories
from tests.harness.reading import texts
from tests.harness.slack import ALICE, TODAY


async def test_help_lists_every_command(slack: SlackRequestClient, fake_slack: FakeSlackApi):
    answer = (await slack.command("help", user=ALICE, response_url=fake_slack.response_url())).json()
    [text] = texts(answer["blocks"])
    sent = "/invoices sent [customer] [status] [since YYYY-MM-DD | until YYYY-MM-DD | last N days]"
    usages = ("/invoices due [customer]", "/invoices show NUMBER", sent, "/invoices find TEXT", "/invoices problems")
    for usage in usages:
        assert f"`{usage}`" in text
    assert answer["response_type"] == "ephemeral"


async def test_no_text_at_all_shows_help(slack: SlackRequestClient, fake_slack: FakeSlackApi):
    answer = (await slack.command("", user=ALICE, response_url=fake_slack.response_url())).json()
    assert "`/invoices due [customer]`" in texts(answer["blocks"])[0]


async def test_an_unknown_subcommand_gets_a_friendly_answer_and_the_help(
    slack: SlackRequestClient, fake_slack: FakeSlackApi
):
    answer = (await slack.command("sned INV-1", user=ALICE, response_url=fake_slack.response_url())).json()
    read = texts(answer["blocks"])
    assert read[0] == "I don't know `sned`. Here is what I can do:"
    assert "`/invoices help`" in read[1]


async def test_show_answers_with_the_invoice_its_lines_and_its_emails(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0042", due=TODAY, amount="99.99")
    await session.commit()

    response = await slack.command("show INV-0042 ", user=ALICE, response_url=fake_slack.response_url("show"))
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("show")) == 1)

    blocks = fake_slack.responses_to("show")[0].body["blocks"]
    read = texts(blocks)
    assert read[0] == "Invoice INV-0042"
    assert "*Customer:* Acme Corp" in read[1]
    assert "*Status:* ✅ Ready to send" in read[1]
    assert "*Total:* €119.99 (€99.99 + tax €20.00)" in read[1]
    assert "*To:* ap@acme.example" in read[1]
    assert read[2] == "*Lines*\n• Consulting × 1 — €99.99"
    assert read[3] == "*Emails*\nNo email has been sent for this invoice yet."


async def test_show_of_an_unknown_number_says_there_is_none(slack: SlackRequestClient, fake_slack: FakeSlackApi):
    await slack.command("show NOPE-7", user=ALICE, response_url=fake_slack.response_url("none"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("none")) == 1)
    assert fake_slack.responses_to("none")[0].body["text"] == "There is no invoice 'NOPE-7'."


async def _delivery(session: AsyncSession, org: Organisation, invoice_id: int, status: str, **extra) -> Delivery:
    delivery = Delivery(
        organisation_id=org.id,
        invoice_id=invoice_id,
        status=status,
        to=["ap@acme.example"],
        message_id=f"<{status}-{invoice_id}@invoicebot.example>",
        verp_token=f"{status}-{invoice_id}",
        requested_by="U0ALICE",
        **extra,
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def test_sent_lists_recent_emails_and_problems_only_those_that_need_a_person(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    good = await factories.invoice(session, org.id, acme, number="INV-0001")
    bad = await factories.invoice(session, org.id, acme, number="INV-0002")
    await _delivery(session, org, good.id, "delivered", smtp_reply="250 2.0.0 Ok: queued as 4F2A")
    await _delivery(session, org, bad.id, "bounced", last_error="550 5.1.1 <ap@acme.example>: no such user")
    await session.commit()

    sent = (await slack.command("sent", user=ALICE, response_url=fake_slack.response_url())).json()
    problems = (await slack.command("problems", user=ALICE, response_url=fake_slack.response_url())).json()

    read_sent = texts(sent["blocks"])
    assert read_sent[0] == "Latest invoice emails"
    assert read_sent[1] == "2 emails · page 1 of 1 · newest first"
    assert {line.split(" · ")[0] for line in read_sent[2:]} == {"*INV-0001*", "*INV-0002*"}
    read_problems = texts(problems["blocks"])
    assert read_problems[0] == "Emails that need a person"
    [line] = read_problems[1:]
    assert line.startswith("*INV-0002* · Acme Corp · €120.00\nTo ap@acme.example · ❌ bounced · ")
    assert line.endswith("asked by <@U0ALICE>\n> 550 5.1.1 &lt;ap@acme.example&gt;: no such user")


async def test_sent_and_problems_say_so_when_there_is_nothing(slack: SlackRequestClient, fake_slack: FakeSlackApi):
    sent = (await slack.command("sent", user=ALICE, response_url=fake_slack.response_url())).json()
    problems = (await slack.command("problems", user=ALICE, response_url=fake_slack.response_url())).json()
    assert texts(sent["blocks"]) == ["No invoice has been emailed yet. `/invoices due` lists what to send."]
    assert texts(problems["blocks"]) == ["✅ No problems: no email bounced, failed or is in doubt."]


async def test_the_web_app_answers_its_health_check(web_url: str):
    import httpx

    async with httpx.AsyncClient() as http:
        response = await http.get(f"{web_url}/healthz")
    assert (response.status_code, response.text) == (200, "ok")


async def test_show_lists_each_email_of_the_invoice_with_its_timeline(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    from services.db.models import DeliveryEvent, utcnow

    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme, number="INV-0042")
    delivery = await _delivery(session, org, invoice.id, "bounced")
    session.add(
        DeliveryEvent(
            organisation_id=org.id,
            delivery_id=delivery.id,
            source="dsn",
            type="bounced",
            recipient="ap@acme.example",
            occurred_at=utcnow(),
            detail={"reason": "the mailbox does not exist", "diagnostic": "550 5.1.1 no such user"},
        )
    )
    await session.commit()

    await slack.command("show INV-0042", user=ALICE, response_url=fake_slack.response_url("show"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("show")) == 1)
    read = texts(fake_slack.responses_to("show")[0].body["blocks"])

    email = read[4]
    assert email.startswith("*Email to ap@acme.example*\n❌ Bounced: ap@acme.example — the mailbox does not exist")
    assert "requested → " in email and " bounced ap@acme.example (UTC)" in email


async def test_problems_counts_bounces_that_match_no_email_of_ours(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    from services.db.models import DeliveryEvent

    session.add(DeliveryEvent(organisation_id=org.id, delivery_id=None, source="dsn", type="unparsed", detail={}))
    await session.commit()

    problems = (await slack.command("problems", user=ALICE, response_url=fake_slack.response_url())).json()

    read = texts(problems["blocks"])
    assert read[0] == "✅ No problems: no email bounced, failed or is in doubt."
    assert read[1].startswith("📭 1 bounce or provider message could not be matched to an invoice email")


async def test_opening_the_app_home_publishes_what_is_due_and_what_needs_a_person(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    for n in range(3):
        await factories.invoice(session, org.id, acme, number=f"INV-{n}", due=TODAY)
    bounced = await factories.invoice(session, org.id, acme, number="INV-9")
    await _delivery(session, org, bounced.id, "bounced", last_error="550 5.1.1 no such user")
    await session.commit()

    response = await slack.event({"type": "app_home_opened", "user": ALICE.id, "tab": "home"})

    assert response.status_code == 200
    await fake_slack.wait_until(lambda: ALICE.id in fake_slack.home_views)
    home = fake_slack.home_views[ALICE.id]
    assert home["type"] == "home"
    read = texts(home["blocks"])
    assert read[1] == (
        "*4* invoices to send — `/invoices due` lists them.\n"
        "*1* email needs a person — `/invoices problems` shows them."
    )
