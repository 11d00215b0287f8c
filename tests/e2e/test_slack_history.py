"""`/invoices history NUMBER` and the *History* button: signed Slack requests to the real app, answers read
as the fake Slack received them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from services.db.models import Organisation
from services.unit_of_work import AuditEntry, write_owed
from tests import factories
from tests.harness.reading import texts
from tests.harness.slack import ALICE

SECRET = b"e2e-history-secret"


async def _history_of_a_sent_email(session: AsyncSession, org: Organisation) -> None:
    """A real request (the review service audits it), then what the approver and the worker wrote."""
    org_id = org.id
    delivery = await factories.queued_delivery(session, org_id, verp_secret=SECRET, number="INV-0042")
    delivery_id, invoice_id = delivery.id, delivery.invoice_id
    await write_owed(
        session,
        audits=[
            AuditEntry(
                organisation_id=org_id,
                actor="U0ALICE",
                action="invoice.recipients_changed",
                subject_type="invoice",
                subject_id=invoice_id,
                detail={"number": "INV-0042", "before": "ap@acme.example", "after": "billing@acme.example"},
            ),
            AuditEntry(
                organisation_id=org_id,
                actor="U0BOB",
                action="delivery.rejected",
                subject_type="delivery",
                subject_id=delivery_id,
                detail={"number": "INV-0042", "reason": "wrong <b>amount</b>"},
            ),
            AuditEntry(
                organisation_id=org_id,
                actor="worker:w1",
                action="delivery.accepted",
                subject_type="delivery",
                subject_id=delivery_id,
                detail={"detail": "250 ok"},
            ),
            # another invoice
            AuditEntry(
                organisation_id=org_id,
                actor="U0ALICE",
                action="invoice.validated",
                subject_type="invoice",
                subject_id=invoice_id + 1000,
                detail={},
            ),
        ],
    )
    await session.commit()


def _history_lines(blocks: list[dict[str, Any]]) -> list[str]:
    return [line for text in texts(blocks)[1:] for line in text.split("\n")]


async def test_history_command_tells_who_did_what_in_plain_words_newest_last(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
) -> None:
    await _history_of_a_sent_email(session, org)

    await slack.command("history INV-0042", user=ALICE, response_url=fake_slack.response_url("h"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("h")) == 1)

    [answer] = fake_slack.responses_to("h")
    assert answer.body["response_type"] == "ephemeral"
    assert texts(answer.body["blocks"])[0] == "*History of INV-0042*"
    lines = _history_lines(answer.body["blocks"])
    assert [line.split(" — ", 1)[1] for line in lines] == [
        "U_ALICE requested the email",  # the factory's actor is no Slack user id: shown as text
        "<@U0ALICE> edited the recipients (now: billing@acme.example)",
        "<@U0BOB> rejected the email (reason: wrong &lt;b&gt;amount&lt;/b&gt;)",
        "invoicebot sent the email (the mail server accepted it) (250 ok)",
    ]
    assert all(line.startswith("• ") and "UTC" in line for line in lines)


async def test_the_history_button_under_show_answers_the_same_and_an_unknown_number_is_told(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
) -> None:
    await _history_of_a_sent_email(session, org)
    await slack.command("show INV-0042", user=ALICE, response_url=fake_slack.response_url("show"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("show")) == 1)
    shown = fake_slack.responses_to("show")[0].body["blocks"]
    [block] = [b for b in shown if b.get("block_id") == "invoice_history_actions"]
    [button] = block["elements"]
    assert button["text"]["text"] == "History"

    await slack.click(button_click(button, block_id=block["block_id"]), user=ALICE,
                      response_url=fake_slack.response_url("hb"))  # fmt: skip
    await slack.command("history NOPE-1", user=ALICE, response_url=fake_slack.response_url("nope"))
    none = await slack.command("history", user=ALICE, response_url=fake_slack.response_url("none"))
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to("hb")) and bool(fake_slack.responses_to("nope")))

    [answer] = fake_slack.responses_to("hb")
    assert answer.body["response_type"] == "ephemeral" and answer.body["replace_original"] is False
    assert len(_history_lines(answer.body["blocks"])) == 4
    assert fake_slack.responses_to("nope")[0].body["text"] == "There is no invoice 'NOPE-1'."
    assert none.json()["text"] == "Which invoice? Try `/invoices history INV-0001`."
