"""The *Fix address & resend* modal states the same reason as the alert it was opened from."""

from __future__ import annotations

import pytest

from bot.sandbox.slack_requests import SlackRequestClient
from tests.harness.modals import open_fix_modal
from tests.harness.reading import channel_messages
from tests.harness.sending import bounce, make_worker, queue_delivery
from tests.harness.slack import CHANNEL, settings_with

# The e2e settings plus the channel the notifier posts status messages and alerts to.
settings = settings_with(INVOICEBOT_NOTIFY_CHANNEL=CHANNEL)
pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)


async def test_the_fix_modal_gives_the_alerts_reason_for_a_bounce_whose_diagnostic_has_no_code(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack: SlackRequestClient
):
    delivery = await queue_delivery(session, org, number="INV-0012")
    await make_worker(sessions, transport).drain()
    await notifier.drain_once()
    await bounce(
        sessions,
        delivery,
        "ap@acme.example",
        diagnostic="smtp; User unknown in virtual mailbox table",
        event_id="dsn-fix-reason",
    )
    await notifier.drain_once()
    _status, alert = channel_messages(fake_slack)
    assert alert.text.startswith("❌ Bounced: ap@acme.example — the mailbox does not exist")

    modal = await open_fix_modal(slack, fake_slack, alert)

    intro = modal["blocks"][0]["text"]["text"]
    assert "❌ ap@acme.example — the mailbox does not exist (`smtp; User unknown in virtual mailbox table`)" in intro
