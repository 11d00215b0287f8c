"""The send window's preview: "2 reminders and 1 invoice go out at 09:00 (Europe/Zurich)" in the channel,
once per opening across workers, a lead before, and *Skip today* / *Review* stopping what it listed —
the real services, loop, notifier and web app, signed requests and the fake Slack on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.autosend_loop import Autosend
from bot.bootstrap import Runtime
from bot.notifier import Notifier
from bot.sandbox.slack_api import FakeSlackApi, StoredMessage
from bot.sandbox.slack_requests import SlackRequests, SlackUserRef, button_click
from services.db.models import (
    Customer,
    Delivery,
    DeliveryKind,
    Organisation,
    OrganisationSettingsRow,
    PeriodClaim,
    Reminder,
    ReminderInvoice,
)
from services.db.models.reminders import ReminderState, ReminderTone
from services.reminders.preview import preview_round
from services.unit_of_work import units_over
from tests import factories
from tests.harness.reading import channel_messages, texts
from tests.harness.sending import SECRET
from tests.harness.slack import ALICE, BOB, CHANNEL, NOTIFYING, settings_with
from tests.harness.waiting import until

settings = settings_with(**NOTIFYING, INVOICEBOT_SENDERS="U0ALICE")

MONDAY = date(2026, 11, 23)
EARLY = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 06:00 in Zurich: the window (09:00 Zurich) opens at 08:00 UTC
HEADLINE = "2 reminders and 1 invoice go out at 09:00 (Europe/Zurich)"


async def seed(session: AsyncSession, org: Organisation, *, lead: int = 0) -> dict[str, int]:
    """Acme and Globex each owe a queued reminder; Initech autosends I-1. Zurich time, `lead` minutes ahead."""
    reminders: dict[str, int] = {}
    for ref, name, number in (("ACME", "Acme Corp", "A-1"), ("GLOBEX", "Globex", "G-1")):
        customer = await factories.customer(session, org.id, ref=ref, name=name, emails=(f"ap@{ref.lower()}.example",))
        invoice = await factories.invoice(session, org.id, customer, number=number)
        reminder = Reminder(
            organisation_id=org.id, customer_id=customer.id, step_offset=7, tone=ReminderTone.NEUTRAL,
            fee=None, cohort=MONDAY, state=ReminderState.QUEUED, note="",
        )  # fmt: skip
        session.add(reminder)
        await session.flush()
        session.add(ReminderInvoice(reminder_id=reminder.id, invoice_id=invoice.id, step_offset=7))
        reminders[ref] = reminder.id
    initech = await factories.customer(session, org.id, ref="INITECH", name="Initech", emails=("ap@initech.example",))
    await factories.invoice(session, org.id, initech, number="I-1")
    await session.execute(update(Customer).where(Customer.id == initech.id).values(autosend=True))
    await session.execute(update(OrganisationSettingsRow).values(time_zone="Europe/Zurich", preview_lead=lead))
    await session.execute(update(Organisation).values(settings_version=Organisation.settings_version + 1))
    await session.commit()
    return reminders


def autosend_of(runtime: Runtime) -> Autosend:
    return Autosend(runtime.sessions, runtime.organisations, verp_secret=SECRET)


def previews(fake_slack: FakeSlackApi) -> list[StoredMessage]:
    return [message for message in channel_messages(fake_slack) if "go out at" in message.text]


async def states(session: AsyncSession) -> list[tuple[str, str]]:
    session.expire_all()
    rows = await session.execute(select(Reminder.state, Reminder.note).order_by(Reminder.id))
    return [(str(state), note) for state, note in rows.all()]


async def skipped(session: AsyncSession) -> bool:
    return any(state == "skipped" for state, _ in await states(session))


async def posted_preview(
    runtime: Runtime, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
) -> StoredMessage:
    await preview_round(units_over(runtime.sessions), organisation_id=org.id, moment=EARLY)
    await notifier.drain_once()
    [preview] = previews(fake_slack)
    return preview


async def click(
    slack: SlackRequests, fake_slack: FakeSlackApi, preview: StoredMessage, label: str, user: SlackUserRef
) -> str:
    [actions] = [block for block in preview.blocks if block["type"] == "actions"]
    element = next(e for e in actions["elements"] if e["text"]["text"] == label)
    key = f"{label}-{user.id}"
    response = await slack.click(
        button_click(element, block_id=actions["block_id"]), user=user, response_url=fake_slack.response_url(key),
        channel_id=CHANNEL, message_ts=preview.ts,
    )  # fmt: skip
    assert response.status_code == 200
    return key


async def test_the_preview_is_posted_once_across_two_workers_with_the_counts_and_the_local_time(
    runtime: Runtime, session: AsyncSession, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
):
    await runtime.organisation_id()
    await seed(session, org)
    units = units_over(runtime.sessions)

    first, second = await asyncio.gather(
        preview_round(units, organisation_id=org.id, moment=EARLY),
        preview_round(units, organisation_id=org.id, moment=EARLY),
    )
    again = await autosend_of(runtime).evaluate(EARLY.replace(minute=1))  # the loop's next minute

    assert [first.posted, second.posted].count(True) == 1
    assert first.opening == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert again[0].queued == ()  # outside the window: nothing leaves yet
    await notifier.drain_once()
    [preview] = previews(fake_slack)
    assert preview.text == HEADLINE
    shown = texts(preview.blocks)
    assert shown[0] == f"📬 *{HEADLINE}*"
    assert "• Acme Corp — A-1" in shown[1] and "• Globex — G-1" in shown[1]
    assert "*I-1*" in shown[2]


async def test_with_a_lead_of_60_minutes_the_preview_waits_until_an_hour_before_the_opening(
    runtime: Runtime, session: AsyncSession, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
):
    await runtime.organisation_id()
    await seed(session, org, lead=60)
    autosend = autosend_of(runtime)

    await autosend.evaluate(datetime(2026, 11, 23, 6, 59, tzinfo=UTC))  # 07:59 in Zurich
    await notifier.drain_once()
    assert previews(fake_slack) == []
    await autosend.evaluate(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))  # 08:00 in Zurich
    await autosend.evaluate(datetime(2026, 11, 23, 7, 1, tzinfo=UTC))
    await notifier.drain_once()
    assert [message.text for message in previews(fake_slack)] == [HEADLINE]


async def test_skip_today_skips_the_reminders_stops_autosend_for_the_day_and_says_who(
    runtime: Runtime,
    session: AsyncSession,
    org: Organisation,
    notifier: Notifier,
    fake_slack: FakeSlackApi,
    slack: SlackRequests,
):
    await runtime.organisation_id()
    await seed(session, org)
    preview = await posted_preview(runtime, org, notifier, fake_slack)

    await click(slack, fake_slack, preview, "Skip today", ALICE)
    await until(lambda: skipped(session), within=10, what="the reminders skipped")
    await notifier.drain_once()

    assert await states(session) == [("skipped", "skipped for today by <@U0ALICE>")] * 2
    [done] = await autosend_of(runtime).evaluate(datetime(2026, 11, 23, 8, 30, tzinfo=UTC))  # open, that day
    assert done.window_open and done.queued == () and done.awaiting_approval == ()
    [rewrite] = fake_slack.calls_to("chat.update")
    assert rewrite.args["ts"] == preview.ts
    assert rewrite.args["text"] == "⏭️ Skipped for today by <@U0ALICE>: 2 reminders stopped, no autosend today."
    assert not [block for block in rewrite.args["blocks"] if block["type"] == "actions"]
    shown = texts(rewrite.args["blocks"])
    assert shown[0] == f"📬 *{HEADLINE}*"  # what was announced stays readable, above who skipped it
    assert shown[-1] == rewrite.args["text"]


async def test_review_unticking_one_reminder_stops_only_that_one(
    runtime: Runtime,
    session: AsyncSession,
    org: Organisation,
    notifier: Notifier,
    fake_slack: FakeSlackApi,
    slack: SlackRequests,
):
    await runtime.organisation_id()
    ids = await seed(session, org)
    preview = await posted_preview(runtime, org, notifier, fake_slack)

    await click(slack, fake_slack, preview, "Review", ALICE)
    await fake_slack.wait_until(lambda: len(fake_slack.views) == 1, within=10)
    [modal] = fake_slack.views.values()
    values: dict[str, Any] = {}
    for block in modal["blocks"]:
        if block["type"] == "input":
            options = block["element"]["options"]
            kept = [option for option in options if option["value"] != f"r{ids['ACME']}"]
            values[block["block_id"]] = {"ticked": {"type": "checkboxes", "selected_options": kept}}
    answer = await slack.submit(modal, values, user=ALICE)

    assert answer.status_code == 200
    assert texts(answer.json()["view"]["blocks"]) == [f"✋ 1 reminder stopped by <@{ALICE.id}>"]
    assert await states(session) == [("skipped", "stopped by <@U0ALICE>"), ("queued", "")]
    [done] = await autosend_of(runtime).evaluate(datetime(2026, 11, 23, 8, 30, tzinfo=UTC))
    assert done.queued == ("I-1",)  # still ticked: it goes
    await notifier.drain_once()
    [rewrite] = fake_slack.calls_to("chat.update")
    assert rewrite.args["ts"] == preview.ts
    shown = texts(rewrite.args["blocks"])
    assert shown[0] == "📬 *1 reminder and 1 invoice go out at 09:00 (Europe/Zurich)*"  # what still goes
    assert "Globex" in shown[1] and "Acme" not in shown[1]
    assert shown[-1] == "✋ 1 reminder stopped by <@U0ALICE>"
    assert [block for block in rewrite.args["blocks"] if block["type"] == "actions"]  # Review again, or skip the rest


async def test_someone_who_may_not_send_is_told_so_and_nothing_changes(
    runtime: Runtime,
    session: AsyncSession,
    org: Organisation,
    notifier: Notifier,
    fake_slack: FakeSlackApi,
    slack: SlackRequests,
):
    await runtime.organisation_id()
    await seed(session, org)
    preview = await posted_preview(runtime, org, notifier, fake_slack)

    key = await click(slack, fake_slack, preview, "Skip today", BOB)
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to(key)), within=10)

    [answer] = fake_slack.responses_to(key)
    assert answer.body["text"] == "You can't send invoices: only senders can; ask an admin to add you to the senders."
    review = await click(slack, fake_slack, preview, "Review", BOB)
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to(review)), within=10)
    assert fake_slack.responses_to(review)[0].body["text"] == answer.body["text"]
    assert fake_slack.views == {}  # no modal opened
    assert await states(session) == [("queued", "")] * 2
    assert fake_slack.calls_to("chat.update") == []
    [done] = await autosend_of(runtime).evaluate(datetime(2026, 11, 23, 8, 30, tzinfo=UTC))
    assert done.queued == ("I-1",)


async def test_review_says_a_reminder_already_dispatched_is_too_late_and_stops_the_rest_as_unticked(
    runtime: Runtime,
    session: AsyncSession,
    org: Organisation,
    notifier: Notifier,
    fake_slack: FakeSlackApi,
    slack: SlackRequests,
):
    await runtime.organisation_id()
    ids = await seed(session, org)
    preview = await posted_preview(runtime, org, notifier, fake_slack)
    # the window opened meanwhile and Acme's reminder became an email (as the dispatcher does)
    email = await factories.queued_delivery(session, org.id, verp_secret=SECRET, number="X-1", customer_ref="X")
    await session.execute(
        update(Delivery).where(Delivery.id == email.id).values(reminder_id=ids["ACME"], kind=DeliveryKind.REMINDER)
    )
    await session.execute(update(Reminder).where(Reminder.id == ids["ACME"]).values(state=ReminderState.SENT))
    await session.commit()

    await click(slack, fake_slack, preview, "Review", ALICE)
    await fake_slack.wait_until(lambda: len(fake_slack.views) == 1, within=10)
    [modal] = fake_slack.views.values()
    [reminders] = [block for block in modal["blocks"] if block.get("block_id") == "pv_r:0"]
    assert [option["text"]["text"] for option in reminders["element"]["options"]] == ["Globex"]
    assert texts(modal["blocks"])[-1] == "Already sent, too late to stop: Acme Corp (A-1)"
    answer = await slack.submit(
        modal, {"pv_r:0": {"ticked": {"type": "checkboxes", "selected_options": []}}}, user=ALICE
    )

    assert texts(answer.json()["view"]["blocks"]) == [f"✋ 1 reminder stopped by <@{ALICE.id}>"]
    assert await states(session) == [("sent", ""), ("skipped", "stopped by <@U0ALICE>")]


async def test_nothing_to_go_out_posts_no_preview_and_claims_no_opening(
    runtime: Runtime, session: AsyncSession, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
):
    await runtime.organisation_id()
    await session.execute(update(OrganisationSettingsRow).values(autosend=True))  # on, but nothing is validated
    await session.commit()

    quiet = await preview_round(units_over(runtime.sessions), organisation_id=org.id, moment=EARLY)

    assert not quiet.posted and quiet.empty
    assert (await session.execute(select(PeriodClaim))).scalars().all() == []  # a later reminder still gets one
    await notifier.drain_once()
    assert previews(fake_slack) == []
