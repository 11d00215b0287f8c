"""The silent-email alert: an email accepted by the server and never heard of again is alerted once,
in its thread, with the bounce alert's way out — evaluated by the real `invoicebot alerts silent --as-of`
and by two evaluators at once; an email with news (delivered, opened, bounced) is never alerted.

The send is real (the worker hands it to the scripted SMTP server, which accepts it), the status
message and the alert are posted by the notifier through the real `slack_sdk` client to the fake Slack.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import LoopHealth
from bot.notifier import Notifier
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from bot.silent_alerts import SilentAlerts, SilentRoute
from handlers.ids import BlockId
from services.db.models import Delivery, DeliveryStatus, Notification, Organisation, OrganisationSettingsRow, utcnow
from services.email.smtp import SmtpTransport
from services.notifications import NotificationKind
from services.tracking.event_types import IncomingEvent
from services.tracking.events import record_delivery_event
from services.tracking.silent import SILENT, Route, SilentCheck, owe_silent_alerts
from tests.harness.modals import open_fix_modal
from tests.harness.reading import block_texts, channel_messages
from tests.harness.sending import SECRET, bounce, make_worker, queue_delivery, reload, reported_delivered
from tests.harness.slack import CHANNEL, settings_with

# The e2e settings plus the channel the notifier posts status messages and alerts to (for the click test).
settings = settings_with(INVOICEBOT_NOTIFY_CHANNEL=CHANNEL)

pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


async def _with_settings(session: AsyncSession, org: Organisation, *, provider: int = 24, smtp: int = 72) -> None:
    session.add(
        OrganisationSettingsRow(
            organisation_id=org.id, silent_after_provider_hours=provider, silent_after_smtp_hours=smtp
        )
    )
    await session.commit()


async def _accepted(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], org: Organisation, transport: SmtpTransport,
    *numbers: str,
) -> list[Delivery]:  # fmt: skip
    """Invoices sent for real and accepted by the SMTP server, their status messages not yet posted."""
    queued = [await queue_delivery(session, org, number=number) for number in numbers]
    await make_worker(sessions, transport).drain()
    sent = [await reload(sessions, delivery.id) for delivery in queued]
    assert [d.status for d in sent] == [DeliveryStatus.ACCEPTED] * len(numbers)
    return sent


async def _silent_alerts(sessions: async_sessionmaker[AsyncSession]) -> list[Notification]:
    async with sessions() as session:
        rows = await session.execute(
            select(Notification).where(Notification.kind == NotificationKind.DELIVERY_ALERT.value)
        )
        return [n for n in rows.scalars() if (n.payload or {}).get("type") == SILENT]


async def test_the_cli_alerts_a_silent_email_once_in_its_thread_after_its_hours_with_the_buttons(
    run: Any, session, sessions, org, transport, notifier: Notifier, fake_slack: FakeSlackApi
):
    await _with_settings(session, org)
    [delivery] = await _accepted(session, sessions, org, transport, "INV-0031")
    assert await notifier.drain_once() == 1  # the status message
    [status] = channel_messages(fake_slack)
    assert delivery.finished_at is not None
    hours = timedelta(hours=72)  # own SMTP relay (no provider webhook configured): the default 72 h

    early = run("alerts", "silent", "--as-of", (delivery.finished_at + hours - timedelta(minutes=1)).isoformat())
    assert early.returncode == 0, early.stderr
    assert "0 silent-email alert(s) owed" in early.stdout
    assert await notifier.drain_once() == 0 and len(channel_messages(fake_slack)) == 1

    late = run("alerts", "silent", "--as-of", (delivery.finished_at + hours + timedelta(minutes=1)).isoformat())
    assert late.returncode == 0, late.stderr
    assert "1 silent-email alert(s) owed as of" in late.stdout and f"sends {delivery.id}" in late.stdout
    assert await notifier.drain_once() == 1

    _, alert = channel_messages(fake_slack)
    [threaded] = [call for call in fake_slack.calls_to("chat.postMessage") if "thread_ts" in call.args]
    assert threaded.args["thread_ts"] == status.ts
    assert alert.text == (
        "🔕 No news: ap@acme.example — accepted by the mail server, then no delivery confirmation, view or bounce"
        " in 72 h (invoice INV-0031)"
    )
    read = block_texts(alert.blocks)
    accepted_at = delivery.finished_at.strftime("%Y-%m-%d %H:%M UTC")
    assert f"Accepted {accepted_at} by own SMTP relay · To: ap@acme.example" in read
    assert "Server said: ```250" in read  # the relay's own words when it took the email
    [actions] = [block for block in alert.blocks if block["type"] == "actions"]
    assert [(e["text"]["text"], e["value"]) for e in actions["elements"]] == [
        ("Fix address & resend", str(delivery.id)),
        ("Open invoice", "INV-0031"),  # no *Mark as sent manually*: the invoice is sent already
    ]

    again = run("alerts", "silent", "--as-of", (delivery.finished_at + hours * 2).isoformat())
    assert "0 silent-email alert(s) owed" in again.stdout  # once per delivery
    assert await notifier.drain_once() == 0 and len(await _silent_alerts(sessions)) == 1


async def test_two_evaluations_at_once_owe_each_silent_email_one_alert(
    session, sessions, org, transport, notifier: Notifier, fake_slack: FakeSlackApi
):
    await _with_settings(session, org)
    sent = await _accepted(session, sessions, org, transport, "INV-0041", "INV-0042", "INV-0043")
    assert await notifier.drain_once() == 3
    check = SilentCheck(as_of=utcnow() + timedelta(hours=25), route=Route.PROVIDER, relay="smtp.postmarkapp.com")

    first, second = await asyncio.gather(owe_silent_alerts(sessions, check), owe_silent_alerts(sessions, check))

    assert sorted(a.delivery_id for a in [*first, *second]) == sorted(d.id for d in sent)
    alerts = await _silent_alerts(sessions)
    assert sorted(n.delivery_id or 0 for n in alerts) == sorted(d.id for d in sent)  # one row each
    assert await notifier.drain_once() == 3
    threaded = [call for call in fake_slack.calls_to("chat.postMessage") if "thread_ts" in call.args]
    assert len(threaded) == 3
    assert all("in 24 h" in call.args["text"] for call in threaded)  # the provider route's hours


async def test_an_email_with_news_is_never_alerted_and_news_after_the_alert_resolves_it(
    session, sessions, org, transport, notifier: Notifier, fake_slack: FakeSlackApi
):
    await _with_settings(session, org)
    delivered, opened, bounced, silent = await _accepted(
        session, sessions, org, transport, "INV-0051", "INV-0052", "INV-0053", "INV-0054"
    )
    await reported_delivered(sessions, delivered, "pm-1")
    async with sessions() as events:
        await record_delivery_event(
            events,
            event=IncomingEvent(
                source="sendgrid", type="opened", recipient="ap@acme.example", occurred_at=utcnow(),
                source_event_id="sg-open-1", raw="", message_id=opened.message_id,
            ),
            now=utcnow(),
            verp_secret=SECRET,
        )  # fmt: skip
        await events.commit()
    await bounce(sessions, bounced, "ap@acme.example")
    await notifier.drain_once()

    later = utcnow() + timedelta(hours=100)
    owed = await owe_silent_alerts(sessions, SilentCheck(as_of=later, route=Route.SMTP))

    assert [a.delivery_id for a in owed] == [silent.id]  # delivered, opened and bounced had news
    await notifier.drain_once()
    status_ts = (await reload(sessions, silent.id)).slack_ts
    silent_status = next(m for m in channel_messages(fake_slack) if m.ts == status_ts)
    [alert] = [m for m in channel_messages(fake_slack) if m.text.startswith("🔕 No news")]

    await reported_delivered(sessions, silent, "pm-2")  # the news arrives after the alert
    await notifier.drain_once()
    await notifier.drain_once()  # the status update owes the alert's rewrite

    assert (await reload(sessions, silent.id)).status == DeliveryStatus.DELIVERED
    assert "✅ Resolved: the email was delivered" in block_texts(alert.blocks)
    assert not [b for b in alert.blocks if b["type"] == "actions"]  # its buttons gave way
    assert silent_status.edits >= 1
    assert await owe_silent_alerts(sessions, SilentCheck(as_of=later + timedelta(hours=1), route=Route.SMTP)) == []
    assert len(await _silent_alerts(sessions)) == 1  # no second silent alert


async def test_zero_hours_turns_the_alert_off_for_that_route(session, sessions, org, transport):
    await _with_settings(session, org, provider=0, smtp=72)
    await _accepted(session, sessions, org, transport, "INV-0061")
    later = utcnow() + timedelta(hours=100)

    assert await owe_silent_alerts(sessions, SilentCheck(as_of=later, route=Route.PROVIDER)) == []
    assert len(await owe_silent_alerts(sessions, SilentCheck(as_of=later, route=Route.SMTP))) == 1


async def test_the_workers_loop_owes_the_alert_and_reports_to_its_heartbeat(session, sessions, org, transport):
    await _with_settings(session, org)
    [delivery] = await _accepted(session, sessions, org, transport, "INV-0071")
    health = LoopHealth()
    heartbeat = health.loop("silent-email alerts", reports_each_round=True)
    loop = SilentAlerts(
        sessions, SilentRoute(route=Route.SMTP), heartbeat, every=0.02, clock=lambda: utcnow() + timedelta(hours=73)
    )
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop))
    try:
        async with asyncio.timeout(10):
            while not await _silent_alerts(sessions):
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # a few more rounds: nothing more is owed
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)

    assert [n.delivery_id for n in await _silent_alerts(sessions)] == [delivery.id]
    assert health.problems() == [] and heartbeat.failures == 0


async def test_fix_address_and_resend_on_a_silent_alert_opens_the_fix_modal(
    session, sessions, org, transport, notifier: Notifier, fake_slack: FakeSlackApi, slack: SlackRequestClient
):
    await _with_settings(session, org)
    [delivery] = await _accepted(session, sessions, org, transport, "INV-0081")
    await notifier.drain_once()
    await owe_silent_alerts(sessions, SilentCheck(as_of=utcnow() + timedelta(hours=73), route=Route.SMTP))
    await notifier.drain_once()
    [alert] = [m for m in channel_messages(fake_slack) if m.text.startswith("🔕 No news")]

    modal = await open_fix_modal(slack, fake_slack, alert)

    [field] = [block for block in modal["blocks"] if block.get("block_id") == BlockId.FIX_EMAILS]
    assert field["element"]["initial_value"] == "ap@acme.example"
    assert modal["private_metadata"] == str(delivery.id)
