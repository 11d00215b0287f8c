"""`/invoices sent` with filters and pages, and `/invoices find`, through the real web app and fake Slack."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from services.db.models import Customer, Delivery, Invoice, InvoiceStatus, Organisation
from tests import factories
from tests.harness.reading import texts
from tests.harness.slack import ALICE, TODAY


def _days_ago(days: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days), time(12), tzinfo=UTC)


async def _sent(session: AsyncSession, org: Organisation, invoice: Invoice, status: str, days_ago: int) -> Delivery:
    delivery = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        status=status,
        to=["ap@example.test"],
        message_id=f"<{invoice.number}-{status}-{days_ago}@invoicebot.example>",
        verp_token=f"{invoice.number}-{status}-{days_ago}",
        requested_by="U0ALICE",
        created_at=_days_ago(days_ago),
        updated_at=_days_ago(days_ago),
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def _customers(session: AsyncSession, org: Organisation) -> tuple[Customer, Customer]:
    acme = await factories.customer(session, org.id)
    societe = await factories.customer(
        session, org.id, ref="SG", name="Société Générale", emails=("compta@sg.example",), language="fr"
    )
    return acme, societe


def _numbers(read: list[str]) -> list[str]:
    return [line.split(" · ")[0].strip("*") for line in read if line.startswith("*")]


async def test_sent_filters_by_customer_status_and_period(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme, societe = await _customers(session, org)
    rows = [
        ("A-1", acme, "bounced", 3),
        ("A-2", acme, "delivered", 5),
        ("A-3", acme, "bounced", 60),
        ("S-1", societe, "bounced", 2),
        ("S-2", societe, "opened", 4),
    ]
    for number, owner, status, days in rows:
        invoice = await factories.invoice(session, org.id, owner, number=number, status=InvoiceStatus.SENT)
        await _sent(session, org, invoice, status, days)
    await session.commit()

    async def sent(text: str) -> list[str]:
        answer = await slack.command(f"sent {text}", user=ALICE, response_url=fake_slack.response_url())
        return texts(answer.json()["blocks"])

    assert _numbers(await sent("")) == ["S-1", "A-1", "S-2", "A-2", "A-3"]
    assert _numbers(await sent("acme bounced")) == ["A-1", "A-3"]
    assert _numbers(await sent("acme bounced last 30 days")) == ["A-1"]
    since = (TODAY - timedelta(days=4)).isoformat()
    read = await sent(f"bounced since {since}")
    assert _numbers(read) == ["S-1", "A-1"]
    assert read[1] == f"2 emails matching “bounced since {since}” · page 1 of 1 · newest first"
    assert _numbers(await sent("societe viewed")) == ["S-2"], "accents and case ignored; viewed means opened"
    until = (TODAY - timedelta(days=5)).isoformat()
    assert _numbers(await sent(f"ACME until {until}")) == ["A-2", "A-3"]
    assert await sent("acme failed") == ["No invoice email matching “acme failed”."]


async def test_a_filter_that_is_not_understood_is_one_sentence_naming_it(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _customers(session, org)
    await session.commit()

    for text, sentence in (
        ("acme bouncd", "I did not understand “acme bouncd”: it is no status, period or customer name."),
        ("since yesterday", "I did not understand “since”: it needs a date like 2026-11-01 (got “yesterday”)."),
        ("last week", "I did not understand “last week”: write it like “last 30 days”."),
        ("since 2026-11-20 until 2026-11-01", "I did not understand the period: 2026-11-20 is after 2026-11-01."),
    ):
        answer = (await slack.command(f"sent {text}", user=ALICE, response_url=fake_slack.response_url())).json()
        assert "blocks" not in answer, text
        assert answer["text"].startswith(sentence), answer["text"]


async def test_sent_pages_like_due_and_next_keeps_the_filter(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme, societe = await _customers(session, org)
    for index in range(25):
        invoice = await factories.invoice(session, org.id, acme, number=f"A-{index:02}", status=InvoiceStatus.SENT)
        await _sent(session, org, invoice, "delivered", days_ago=index + 1)
    other = await factories.invoice(session, org.id, societe, number="S-1", status=InvoiceStatus.SENT)
    await _sent(session, org, other, "delivered", days_ago=0)
    await session.commit()

    first = (await slack.command("sent acme", user=ALICE, response_url=fake_slack.response_url())).json()["blocks"]
    assert texts(first)[1] == "25 emails matching “acme” · page 1 of 2 · newest first"
    assert _numbers(texts(first)) == [f"A-{index:02}" for index in range(20)]
    [footer] = [block for block in first if block.get("block_id") == "sent_footer"]
    [following] = footer["elements"]
    assert following["text"]["text"] == "Next ▶"

    click = button_click(following, block_id="sent_footer")
    await slack.click(click, user=ALICE, response_url=fake_slack.response_url("p2"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("p2")) == 1)
    [second] = fake_slack.responses_to("p2")
    assert second.body["replace_original"] is True
    read = texts(second.body["blocks"])
    assert read[1] == "25 emails matching “acme” · page 2 of 2 · newest first"
    assert _numbers(read) == [f"A-{index:02}" for index in range(20, 25)]
    [footer] = [block for block in second.body["blocks"] if block.get("block_id") == "sent_footer"]
    assert [button["text"]["text"] for button in footer["elements"]] == ["◀ Previous"]


async def test_find_by_number_customer_and_amount_with_the_buttons_of_show(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme, societe = await _customers(session, org)
    await factories.invoice(session, org.id, acme, number="INV-0042", amount="1041.67")  # total 1250.00
    await factories.invoice(session, org.id, societe, number="FAC-7", amount="10.00")
    await factories.invoice(session, org.id, acme, number="DRAFT-1", amount="5.00", status=InvoiceStatus.DRAFT)
    await factories.invoice(session, org.id, acme, number="100%OFF", amount="1.00")
    await factories.invoice(session, org.id, acme, number="INV_7", amount="2.00")
    await session.commit()

    async def find(text: str) -> list[dict[str, Any]]:
        answer = await slack.command(f"find {text}", user=ALICE, response_url=fake_slack.response_url())
        blocks: list[dict[str, Any]] = answer.json()["blocks"]
        return blocks

    blocks = await find("inv-0042")
    read = texts(blocks)
    assert read[:2] == ["Invoices found", "1 invoice matching “inv-0042”"]
    assert read[2] == "*INV-0042* · Acme Corp · €1,250.00\n✅ Ready to send"
    buttons = [(element["action_id"], element["value"]) for element in blocks[3]["elements"]]
    assert buttons == [
        ("invoice_show_history", "INV-0042"),
        ("invoice_revoke_link", "INV-0042"),
        ("invoice_record_payment", "INV-0042"),
    ]
    for amount in ("1 250,00", "1250", "EUR 1250.00", "€1,250.00", "1.250,00"):
        assert _numbers(texts(await find(amount))) == ["INV-0042"], amount
    assert _numbers(texts(await find("USD 1250"))) == [], "the currency written must be the invoice's"
    assert _numbers(texts(await find("SOCIETE generale"))) == ["FAC-7"]
    assert _numbers(texts(await find("générale"))) == ["FAC-7"]
    draft = await find("draft-1")
    assert [element["action_id"] for element in draft[3]["elements"]] == ["invoice_show_history"]
    assert _numbers(texts(await find("%"))) == ["100%OFF"], "a % in the text is a percent sign, not a wildcard"
    assert _numbers(texts(await find("_"))) == ["INV_7"], "an _ in the text is an underscore, not a wildcard"
    assert texts(await find("nothing-like-this")) == [
        "No invoice matches “nothing-like-this”: none has that number, customer or amount. "
        "`/invoices sent` lists the latest emails."
    ]
