# ruff: noqa: F811 - the notifier test module's fixtures are imported and used by name
"""The *Fix address & resend* modal states the same reason as the alert it was opened from."""

from __future__ import annotations

from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import utcnow
from services.delivery_events import IncomingEvent, record_delivery_event
from tests.e2e.conftest import ALICE
from tests.e2e.test_slack_alerts import alert_button, settings  # noqa: F401 - fixtures
from tests.e2e.test_slack_notifier import (  # noqa: F401 - fixtures
    CHANNEL,
    channel_messages,
    clock,
    notifier,
    smtp,
    transport,
)
from tests.integration.test_worker import make_worker, queue_delivery


async def test_the_fix_modal_gives_the_alerts_reason_for_a_bounce_whose_diagnostic_has_no_code(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery = await queue_delivery(session, org, number="INV-0012")
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    async with sessions() as events:
        await record_delivery_event(
            events,
            event=IncomingEvent(
                source="dsn",
                type="bounced",
                recipient="ap@acme.example",
                occurred_at=utcnow(),
                source_event_id="dsn-fix-reason",
                raw="",
                bounce_kind="hard",
                status_code="5.1.1",
                diagnostic="smtp; User unknown in virtual mailbox table",
                verp_token=delivery.verp_token,
            ),
            now=utcnow(),
            verp_secret=b"test-secret",
        )
        await events.commit()
    await notifier.drain_once()
    _status, alert = channel_messages(fake_slack)
    assert alert.text.startswith("❌ Bounced: ap@acme.example — the mailbox does not exist")

    await slack.click(
        alert_button(alert, "Fix address & resend"),
        user=ALICE,
        response_url=fake_slack.response_url("fix"),
        channel_id=CHANNEL,
        message_ts=alert.ts,
    )
    await fake_slack.wait_until(lambda: len(fake_slack.views) == 1)
    [modal] = fake_slack.views.values()

    intro = modal["blocks"][0]["text"]["text"]
    assert "❌ ap@acme.example — the mailbox does not exist (`smtp; User unknown in virtual mailbox table`)" in intro
