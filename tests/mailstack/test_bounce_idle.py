"""Bounces heard within seconds: the bounce loop waits on IMAP IDLE in a real Dovecot.

The poll interval is set to 600 s, so only the server's IDLE push can explain a bounce filed
within the generous bound below. Postfix relays to a server that refuses the recipient, writes
a real DSN to our VERP return path, and Dovecot announces it to the idling loop.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import Loop, bootstrap
from bot.bounce_mailbox import BounceMailbox
from bot.config import load_settings
from services.db.models import DeliveryStatus
from tests.harness.mailstack import BOUNCE_PASSWORD, BOUNCE_USER, MailStack
from tests.harness.postfix import SECRET, mailbox_reader, queue_delivery, send_through_postfix
from tests.harness.sending import reload
from tests.harness.waiting import reached, stopping

POLL_SECONDS = 600.0
BOUND_SECONDS = 30.0  # generous; a poll would take 600 s


def idling(caplog: pytest.LogCaptureFixture) -> int:
    """How many times the loop told the log that the server acknowledged its IDLE."""
    return sum("idling (IMAP IDLE)" in record.getMessage() for record in caplog.records)


async def test_a_bounce_is_filed_within_seconds_while_the_loop_idles_with_a_600_second_poll(
    session, sessions: async_sessionmaker[AsyncSession], org, mailstack: MailStack, refusing_relay, caplog
):
    caplog.set_level(logging.DEBUG, logger="bot.bounce_mailbox")
    reader: BounceMailbox = mailbox_reader(mailstack, sessions, poll_interval=POLL_SECONDS)
    stop = asyncio.Event()
    loop = asyncio.create_task(reader.run(stop))
    async with stopping(loop, stop, within=10):
        # The first poll finds nothing; the loop then idles (the server accepted IDLE).
        assert await reached(lambda: _true(idling(caplog) >= 1), within=BOUND_SECONDS), mailstack.logs()
        idled_before_the_bounce = idling(caplog)
        delivery = await queue_delivery(session, org)
        sent = await send_through_postfix(mailstack, sessions, delivery)
        assert sent.status == DeliveryStatus.ACCEPTED, sent.last_error

        async def bounced() -> bool:
            return (await reload(sessions, delivery.id)).status == DeliveryStatus.BOUNCED

        assert await reached(bounced, within=BOUND_SECONDS), f"{reader.totals}\n{mailstack.logs()}"
        # The poll's totals are added when it ends, after the commit the status shows.
        assert await reached(lambda: _true(reader.totals.parsed == 1), within=BOUND_SECONDS), reader.totals
        assert reader.totals.imap_errors == 0
        back_to_idle = await reached(lambda: _true(idling(caplog) > idled_before_the_bounce), within=BOUND_SECONDS)
        assert back_to_idle, "after filing it the loop went back to IDLE"
        assert reader.idle_waits >= 2


async def _true(value: bool) -> bool:
    return value


async def test_the_bounce_loop_of_invoicebot_run_reads_the_poll_setting_and_idles(
    session, sessions, org, mailstack: MailStack, refusing_relay, database_url: str, caplog
):
    caplog.set_level(logging.DEBUG, logger="bot.bounce_mailbox")
    settings = load_settings(
        DATABASE_URL=database_url,
        INVOICEBOT_IMAP_HOST="127.0.0.1",
        INVOICEBOT_IMAP_PORT=str(mailstack.imap_port),
        INVOICEBOT_IMAP_USERNAME=BOUNCE_USER,
        INVOICEBOT_IMAP_PASSWORD=BOUNCE_PASSWORD,
        INVOICEBOT_IMAP_SECURITY="none",
        INVOICEBOT_IMAP_POLL_SECONDS=str(POLL_SECONDS),
        INVOICEBOT_SECRET_KEY=SECRET.decode(),
    )
    assert settings.imap_poll_seconds == POLL_SECONDS
    runtime = bootstrap(settings, loops=[Loop.BOUNCE_MAILBOX])
    stop = asyncio.Event()
    (bounce_loop,) = runtime.loops(stop)
    loop = asyncio.create_task(bounce_loop)
    try:
        async with stopping(loop, stop, within=10):
            assert await reached(lambda: _true(idling(caplog) >= 1), within=BOUND_SECONDS), mailstack.logs()
            delivery = await queue_delivery(session, org)
            assert (await send_through_postfix(mailstack, sessions, delivery)).status == DeliveryStatus.ACCEPTED

            async def bounced() -> bool:
                return (await reload(sessions, delivery.id)).status == DeliveryStatus.BOUNCED

            assert await reached(bounced, within=BOUND_SECONDS), mailstack.logs()
    finally:
        await runtime.aclose()
