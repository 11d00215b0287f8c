"""Reminders in Slack, through signed requests to the real web app and the fake Slack: `/invoices customer
NAME` shows a customer's open invoices, ladder, pause and next reminder; its buttons pause or resume the
customer, record a promise to pay, mark an invoice disputed and lift the dispute, each refusing bad input
with a sentence and writing nothing; `/invoices show` lists an invoice's reminders and its next step."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, button_click
from services.db.models import (
    AuditLog,
    CustomerReminderState,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Invoice,
    InvoiceReminderState,
    InvoiceStatus,
    Organisation,
    Reminder,
    ReminderInvoice,
    ReminderState,
    ReminderTone,
    SentVia,
)
from tests import factories
from tests.harness.reading import buttons, input_blocks, state_values, texts
from tests.harness.slack import ALICE, TODAY, settings_with

NOBODY = SlackUserRef(id="U0NOBODY", team_id="T0OWN", name="nick")
settings = settings_with(INVOICEBOT_SENDERS=ALICE.id)  # Alice is a sender; anyone else may only look


async def _acme(session: AsyncSession, org: Organisation) -> None:
    """Acme: ACME-1 13 days overdue (reminded at +7, the email delivered), ACME-2 due in 17 days, ACME-3 paid."""
    acme = await factories.customer(session, org.id)
    late = await factories.invoice(
        session, org.id, acme, number="ACME-1", due=date(2026, 11, 10), status=InvoiceStatus.SENT
    )
    await factories.invoice(session, org.id, acme, number="ACME-2", due=date(2026, 12, 10), status=InvoiceStatus.SENT)
    await factories.invoice(session, org.id, acme, number="ACME-3", due=date(2026, 11, 1), status=InvoiceStatus.PAID)
    await factories.customer(session, org.id, ref="ACMEX", name="Acme Exports")
    reminder = Reminder(
        organisation_id=org.id, customer_id=acme.id, step_offset=7, tone=ReminderTone.NEUTRAL,
        cohort=date(2026, 11, 17), state=ReminderState.SENT,
    )  # fmt: skip
    session.add(reminder)
    await session.flush()
    session.add(ReminderInvoice(reminder_id=reminder.id, invoice_id=late.id, step_offset=7))
    session.add(
        Delivery(
            organisation_id=org.id, invoice_id=late.id, kind=DeliveryKind.REMINDER, reminder_id=reminder.id,
            status=DeliveryStatus.DELIVERED, message_id="<r1@example.com>", verp_token="r1", requested_by="worker",
        )
    )  # fmt: skip
    await session.commit()


async def _view(slack: SlackRequestClient, fake_slack: FakeSlackApi, text: str = "customer ACME") -> dict[str, Any]:
    answer = (await slack.command(text, user=ALICE, response_url=fake_slack.response_url())).json()
    assert answer["response_type"] == "ephemeral"
    return dict(answer)


async def _open(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, label: str, user: SlackUserRef = ALICE
) -> dict[str, Any]:
    shown = (await _view(slack, fake_slack))["blocks"]
    element, block_id = buttons(shown)[label]
    before = len(fake_slack.views)
    await slack.click(button_click(element, block_id=block_id), user=user, response_url=fake_slack.response_url())
    await fake_slack.wait_until(lambda: len(fake_slack.views) == before + 1)
    return dict(list(fake_slack.views.values())[-1])


async def _audits(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as reading:
        return list((await reading.scalars(select(AuditLog.action).where(AuditLog.action.like("reminders.%")))).all())


async def _invoice_state(sessions: async_sessionmaker[AsyncSession], number: str) -> InvoiceReminderState | None:
    async with sessions() as reading:
        invoice = (await reading.scalars(select(Invoice).where(Invoice.number == number))).one()
        return await reading.get(InvoiceReminderState, invoice.id)


async def _paused_until(sessions: async_sessionmaker[AsyncSession]) -> date | None:
    async with sessions() as reading:
        state = (await reading.scalars(select(CustomerReminderState))).first()
        return state.paused_until if state else None


async def test_customer_view_shows_open_invoices_ladder_and_next_reminder(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _acme(session, org)

    answer = await _view(slack, fake_slack)

    blocks = answer["blocks"]
    assert texts(blocks) == [
        "Acme Corp (ACME)",
        "*Ladder:* -3 friendly, +0 friendly, +7 neutral, +14 firm, +30 firm (the organisation's)\n"
        "*Reminders:* on\n"
        "*Next reminder:* step +14 firm on 24 November 2026",
        "*ACME-1* · €120.00 · 13 days overdue\n"
        "Next: step +14 firm on 24 November 2026\n"
        "Last reminder: 17 November 2026: step +7 neutral — email delivered",
        "*ACME-2* · €120.00 · due in 17 days\nNext: step -3 friendly on 7 December 2026",
    ]
    assert list(buttons(blocks)) == ["Pause reminders", "Promise to pay", "Mark disputed"]


async def test_customer_command_says_which_match_or_that_none_does(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await _acme(session, org)

    several = await _view(slack, fake_slack, "customer acm")
    unknown = await _view(slack, fake_slack, "customer zebra")
    by_name = await _view(slack, fake_slack, "customer acme exports")

    assert texts(several["blocks"]) == [
        "Several customers match 'acm':\n• Acme Corp — `ACME`\n• Acme Exports — `ACMEX`\n"
        "Run `/invoices customer REF` with one of these references."
    ]
    assert unknown["text"] == "No customer's name or reference contains 'zebra'."
    nothing = await _view(slack, fake_slack, "customer")
    assert nothing["text"] == "Which customer? Try /invoices customer acme (a name or a reference)."
    assert texts(by_name["blocks"])[0] == "Acme Exports (ACMEX)"
    assert texts(by_name["blocks"])[-1] == "No open invoice: nothing to remind."


async def test_pause_refuses_a_past_day_then_pauses_and_resume_ends_it(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _acme(session, org)
    modal = await _open(slack, fake_slack, "Pause reminders")
    assert input_blocks(modal)["pause_until"]["element"]["initial_date"] == (TODAY + timedelta(days=1)).isoformat()

    past = await slack.submit(modal, state_values(modal, pause_until="2026-11-20"), user=ALICE)
    today = await slack.submit(modal, state_values(modal, pause_until=TODAY.isoformat()), user=ALICE)

    assert past.json() == {
        "response_action": "errors",
        "errors": {"pause_until": "Pause until a day after today; 2026-11-20 is not."},
    }
    assert today.json()["errors"] == {"pause_until": "Pause until a day after today; 2026-11-23 is not."}
    assert await _paused_until(sessions) is None

    done = (await slack.submit(modal, state_values(modal, pause_until="2026-12-01"), user=ALICE)).json()

    assert done["response_action"] == "update"
    shown = texts(done["view"]["blocks"])
    assert shown[0] == "✅ Reminders to Acme Corp paused until 2026-12-01."
    assert "*Paused* until 1 December 2026 by <@U0ALICE>" in shown[2]
    assert "Next: none: customer paused until 1 December 2026; reminders resume on 2 December 2026" in shown[3]
    assert await _paused_until(sessions) == date(2026, 12, 1)
    assert await _audits(sessions) == ["reminders.paused"]

    blocks = (await _view(slack, fake_slack))["blocks"]
    element, block_id = buttons(blocks)["Resume reminders"]
    await slack.click(button_click(element, block_id=block_id), user=ALICE, response_url=fake_slack.response_url("r"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("r")) == 1)

    replaced = fake_slack.responses_to("r")[0].body
    assert replaced["replace_original"] is True
    assert texts(replaced["blocks"])[1:3] == [
        "✅ Reminders resumed.",
        "*Ladder:* -3 friendly, +0 friendly, +7 neutral, +14 firm, +30 firm (the organisation's)\n"
        "*Reminders:* on\n*Next reminder:* step +14 firm on 24 November 2026",
    ]
    assert await _paused_until(sessions) is None
    assert await _audits(sessions) == ["reminders.paused", "reminders.paused"]


async def test_promise_to_pay_refuses_a_past_day_and_a_closed_invoice_then_holds_the_reminders(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _acme(session, org)
    modal = await _open(slack, fake_slack, "Promise to pay")
    options = [o["value"] for o in input_blocks(modal)["stop_invoice"]["element"]["options"]]
    assert options == ["ACME-1", "ACME-2"]  # the open ones: ACME-3 is paid

    past = await slack.submit(modal, state_values(modal, stop_invoice="ACME-1", promise_until="2026-11-01"), user=ALICE)
    forged = state_values(modal, stop_invoice="ACME-1", promise_until="2026-12-05")
    forged["stop_invoice"]["value"]["selected_option"] = {
        "value": "ACME-3",
        "text": {"type": "plain_text", "text": "x"},
    }
    closed = await slack.submit(modal, forged, user=ALICE)

    assert past.json()["errors"] == {
        "promise_until": "A promise to pay runs to a date from today on; 2026-11-01 has passed."
    }
    assert closed.json()["errors"] == {"stop_invoice": "Invoice ACME-3 is not open (it is paid): nothing to remind."}
    assert await _invoice_state(sessions, "ACME-1") is None
    assert await _invoice_state(sessions, "ACME-3") is None

    done = (
        await slack.submit(modal, state_values(modal, stop_invoice="ACME-1", promise_until="2026-12-05"), user=ALICE)
    ).json()

    shown = texts(done["view"]["blocks"])
    assert shown[0] == "✅ ACME-1: promised to pay by 2026-12-05; no reminder for it until then."
    assert "Next: none: promised to pay by 5 December 2026; reminders resume on 6 December 2026" in shown[3]
    state = await _invoice_state(sessions, "ACME-1")
    assert state is not None and state.promised_until == date(2026, 12, 5) and state.updated_by == ALICE.id
    assert await _audits(sessions) == ["reminders.promise"]


async def test_dispute_needs_a_reason_then_shows_who_and_why_and_lift_clears_it(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _acme(session, org)
    modal = await _open(slack, fake_slack, "Mark disputed")

    empty = await slack.submit(modal, state_values(modal, stop_invoice="ACME-1", dispute_reason="   "), user=ALICE)

    assert empty.json()["errors"] == {
        "dispute_reason": "Say why the invoice is disputed (the customer's reason), so the next person knows."
    }
    assert await _invoice_state(sessions, "ACME-1") is None

    reason = "Goods arrived damaged <b>"
    done = await slack.submit(modal, state_values(modal, stop_invoice="ACME-1", dispute_reason=reason), user=ALICE)

    shown = texts(done.json()["view"]["blocks"])
    assert shown[0] == "✅ ACME-1 marked disputed; no reminder for it until the dispute is lifted."
    assert "Next: none: disputed by <@U0ALICE>: Goods arrived damaged &lt;b&gt;" in shown[3]
    state = await _invoice_state(sessions, "ACME-1")
    assert state is not None and state.disputed_reason == reason and state.disputed_by == ALICE.id

    blocks = (await _view(slack, fake_slack))["blocks"]
    [lift] = [b["accessory"] for b in blocks if b.get("accessory", {}).get("action_id") == "customer_lift_dispute"]
    assert lift["text"]["text"] == "Lift dispute"
    await slack.click(
        button_click(lift, block_id="customer_invoice:0"), user=ALICE, response_url=fake_slack.response_url("l")
    )
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("l")) == 1)

    replaced = texts(fake_slack.responses_to("l")[0].body["blocks"])
    assert replaced[1] == "✅ Dispute on ACME-1 lifted."
    assert "Next: step +14 firm on 24 November 2026" in replaced[3]
    state = await _invoice_state(sessions, "ACME-1")
    assert state is not None and state.disputed_at is None
    assert await _audits(sessions) == ["reminders.disputed", "reminders.dispute_lifted"]

    again = button_click(lift, block_id="customer_invoice:0")  # the old message's button, clicked twice
    await slack.click(again, user=ALICE, response_url=fake_slack.response_url("again"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("again")) == 1)
    assert fake_slack.responses_to("again")[0].body["text"] == "Invoice ACME-1 is not disputed."
    assert await _audits(sessions) == ["reminders.disputed", "reminders.dispute_lifted"]


async def test_a_viewer_who_is_not_a_sender_is_refused_and_nothing_is_written(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _acme(session, org)
    modal = await _open(slack, fake_slack, "Pause reminders", user=NOBODY)

    refused = await slack.submit(modal, state_values(modal, pause_until="2026-12-01"), user=NOBODY)

    assert refused.json()["errors"] == {
        "pause_until": "You can't pause or resume a customer's reminders: only senders can; "
        "ask an admin to add you to the senders."
    }
    modal = await _open(slack, fake_slack, "Mark disputed", user=NOBODY)
    refused = await slack.submit(modal, state_values(modal, stop_invoice="ACME-1", dispute_reason="no"), user=NOBODY)
    assert refused.json()["errors"] == {
        "dispute_reason": "You can't mark invoices disputed or lift a dispute: only senders can; "
        "ask an admin to add you to the senders."
    }
    assert await _paused_until(sessions) is None
    assert await _invoice_state(sessions, "ACME-1") is None
    assert await _audits(sessions) == []


async def test_an_invoice_sent_manually_gets_reminders_only_once_a_sender_turns_them_on(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _acme(session, org)
    await session.execute(update(Invoice).where(Invoice.number == "ACME-2").values(sent_via=SentVia.MANUAL))
    await session.commit()
    blocks = (await _view(slack, fake_slack))["blocks"]
    switches = {
        block["block_id"]: (block["text"]["text"], block["accessory"])
        for block in blocks
        if block.get("accessory", {}).get("action_id") == "customer_invoice_reminders"
    }
    row, switch = switches["customer_invoice:1"]
    assert "*ACME-2*" in row and "Next: none:" in row and "manually" in row, row
    assert switch["text"]["text"] == "Turn reminders on"
    assert switches["customer_invoice:0"][1]["text"]["text"] == "Turn reminders off"

    click = button_click(switch, block_id="customer_invoice:1")
    await slack.click(click, user=NOBODY, response_url=fake_slack.response_url("nobody"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("nobody")) == 1)
    assert fake_slack.responses_to("nobody")[0].body["text"] == (
        "You can't pause or resume a customer's reminders: only senders can; ask an admin to add you to the senders."
    )
    assert await _invoice_state(sessions, "ACME-2") is None and await _audits(sessions) == []

    await slack.click(click, user=ALICE, response_url=fake_slack.response_url("on"))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to("on")) == 1)

    replaced = texts(fake_slack.responses_to("on")[0].body["blocks"])
    assert replaced[1] == "✅ Reminders for ACME-2 turned on."
    [now] = [line for line in replaced if line.startswith("*ACME-2*")]
    assert "Next: step -3 friendly on 7 December 2026" in now, now
    state = await _invoice_state(sessions, "ACME-2")
    assert state is not None and state.reminders_on is True and state.updated_by == ALICE.id
    assert await _audits(sessions) == ["reminders.switched"]


async def test_show_lists_the_reminders_sent_and_the_next_step_or_what_stops_it(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, sessions, org: Organisation
):
    await _acme(session, org)

    async def reminders_of(number: str, key: str) -> str:
        await slack.command(f"show {number}", user=ALICE, response_url=fake_slack.response_url(key))
        await fake_slack.wait_until(lambda: len(fake_slack.responses_to(key)) == 1)
        [found] = [t for t in texts(fake_slack.responses_to(key)[0].body["blocks"]) if t.startswith("*Reminders*")]
        return found

    assert await reminders_of("ACME-1", "one") == (
        "*Reminders*\n• 17 November 2026: step +7 neutral — email delivered\n*Next:* step +14 firm on 24 November 2026"
    )
    assert await reminders_of("ACME-3", "paid") == "*Reminders*\nNo reminder yet.\n*Next:* none: paid"

    modal = await _open(slack, fake_slack, "Mark disputed")
    await slack.submit(modal, state_values(modal, stop_invoice="ACME-1", dispute_reason="Wrong quantity"), user=ALICE)

    assert await reminders_of("ACME-1", "disputed") == (
        "*Reminders*\n• 17 November 2026: step +7 neutral — email delivered\n"
        "*Next:* none: disputed by <@U0ALICE>: Wrong quantity"
    )
