"""A bounce, end to end, through a real Postfix and a real Dovecot on 127.0.0.1.

The real worker hands the invoice to Postfix (it accepts: the delivery becomes `accepted`);
Postfix relays it to the customer's server, which refuses the mailbox (550 5.1.1), so
Postfix writes a real RFC 3464 report to our VERP return path; Dovecot serves it over
IMAP; the bounce mailbox loop files it; the delivery becomes `bounced`; the notifier
posts the reason in the status message's thread of the fake Slack API.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import time
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bounce_mailbox import BounceMailbox, MailboxPolling, PollStats
from bot.imap_mailbox import ImapAccount, ImapMailbox
from bot.notifier import Notifier, NotifierTuning, PostRouting
from bot.sandbox.slack_api import FakeSlackApi
from services.db.models import DeliveryEvent, DeliveryStatus, Notification, utcnow
from services.notifications import NotificationKind
from tests.harness.mailstack import BOUNCE_PASSWORD, BOUNCE_USER, MailStack
from tests.harness.postfix import NOBODY, SECRET, mailbox_reader, queue_delivery, send_through_postfix
from tests.harness.sending import reload
from tests.harness.waiting import reached, stopping

BOT_TOKEN = "xoxb-mailstack-test-token"
CHANNEL = "C0INVOICES"


async def poll_until(reader: BounceMailbox, done: Callable[[PollStats], bool], *, within: float = 20.0) -> PollStats:
    """Poll (bounded in time) until the summed stats satisfy `done`."""
    total = PollStats()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        total.add(await reader.poll_once())
        if done(total):
            return total
        await asyncio.sleep(0.1)
    return total


async def events_of(sessions: async_sessionmaker[AsyncSession]) -> list[DeliveryEvent]:
    async with sessions() as session:
        return list((await session.execute(select(DeliveryEvent).order_by(DeliveryEvent.id))).scalars())


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    api = FakeSlackApi(token=BOT_TOKEN)
    await api.start()
    yield api
    await api.stop()


async def test_an_invoice_refused_downstream_comes_back_as_a_real_dsn_and_slack_hears_why(
    session, sessions, org, mailstack, refusing_relay, fake_slack
):
    delivery = await queue_delivery(session, org)

    sent = await send_through_postfix(mailstack, sessions, delivery)
    assert sent.status == DeliveryStatus.ACCEPTED, sent.last_error
    assert "queued as" in (sent.smtp_reply or "")

    reader = mailbox_reader(mailstack, sessions)
    stats = await poll_until(reader, lambda total: total.parsed >= 1)
    assert stats.parsed == 1, f"{stats}\n{mailstack.logs()}"
    assert stats.imap_errors == 0 and stats.unparseable == 0 and stats.orphan == 0
    assert NOBODY in refusing_relay.refused

    bounced = await reload(sessions, delivery.id)
    assert bounced.status == DeliveryStatus.BOUNCED
    result = bounced.recipient_results[NOBODY]
    assert result["status"] == "bounced"
    assert "550 5.1.1" in result["reply"] and "User unknown" in result["reply"]
    [event] = [e for e in await events_of(sessions) if e.source == "dsn"]
    assert event.delivery_id == delivery.id and event.type == "bounced" and event.recipient == NOBODY
    assert event.detail["status"] == "5.1.1" and event.detail["bounce_kind"] == "hard"
    assert "Reporting-MTA: dns; mx.invoicebot.test" in (event.raw or "")

    async with sessions() as check:
        [alert] = (
            await check.execute(
                select(Notification).where(
                    Notification.delivery_id == delivery.id, Notification.kind == NotificationKind.DELIVERY_ALERT
                )
            )
        ).scalars()
    assert alert.payload["recipient"] == NOBODY and alert.payload["type"] == "bounced"
    reason = alert.payload["reason"]
    assert reason and "550 5.1.1" in alert.payload["diagnostic"]

    # The message is flagged \Seen after filing: a second poll finds nothing new.
    again = await reader.poll_once()
    assert again.fetched == 0 and again.imap_errors == 0
    # A second copy of the same report (a crash before the flag, a forwarded copy) changes nothing.
    [dsn_file] = list((mailstack.maildir / "cur").iterdir())
    mailstack.drop_into_mailbox(dsn_file.read_bytes(), name="copy")
    copy = await reader.poll_once()
    assert (copy.fetched, copy.parsed, copy.duplicates) == (1, 1, 1)
    assert len([e for e in await events_of(sessions) if e.source == "dsn"]) == 1

    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url)
    notifier = Notifier(
        sessions, client, PostRouting(default_channel=CHANNEL), tuning=NotifierTuning(poll_interval=0.05)
    )

    async def alert_posted() -> bool:
        await notifier.drain_once()
        return any(call.args.get("thread_ts") for call in fake_slack.calls_to("chat.postMessage"))

    assert await reached(alert_posted, within=15.0), [c.args for c in fake_slack.calls]
    status_message, *_ = fake_slack.messages[CHANNEL]
    [threaded] = [c for c in fake_slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert threaded.args["thread_ts"] == status_message.ts
    assert reason in threaded.args["text"] or reason in str(threaded.args.get("blocks"))
    assert "5.1.1" in str(threaded.args.get("blocks")) + threaded.args["text"]


def send_with_return_path(stack: MailStack, *, mail_from: str, to: str) -> None:
    """Hand Postfix a message as some other sender would (blocking: run it in a thread)."""
    message = EmailMessage()
    message["From"] = "someone@elsewhere.example"
    message["To"] = to
    message["Subject"] = "Not one of ours"
    message["Message-ID"] = "<not-ours-1@elsewhere.example>"
    message.set_content("hello\n")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(message, from_addr=mail_from, to_addrs=[to])


async def test_a_bounce_for_no_delivery_of_ours_is_stored_as_an_orphan_flagged_and_moved_aside(
    sessions, org, mailstack
):
    forged = "bounces+1-aaaaaaaaaaaaaaaa@localhost"  # a token that is not signed with our secret
    await asyncio.to_thread(send_with_return_path, mailstack, mail_from=forged, to=NOBODY)
    reader = mailbox_reader(mailstack, sessions, unmatched_folder="Unmatched")

    stats = await poll_until(reader, lambda total: total.orphan >= 1)

    assert (stats.orphan, stats.parsed, stats.imap_errors) == (1, 0, 0), mailstack.logs()
    [orphan] = await events_of(sessions)
    assert orphan.delivery_id is None and orphan.type == "bounced" and orphan.recipient == NOBODY
    assert list((mailstack.maildir / "cur").iterdir()) == []  # moved out of the inbox …
    [aside] = list((mailstack.maildir / ".Unmatched" / "cur").iterdir())  # … kept, seen and flagged
    assert "S" in aside.name.rpartition(":2,")[2]
    assert "$InvoicebotUnmatched" in (mailstack.maildir / ".Unmatched" / "dovecot-keywords").read_text()


def auto_reply(to: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Jane Doe <jane@customer.example>"
    message["To"] = to
    message["Subject"] = "Out of Office: Invoice INV-0042"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = "<ooo-1@customer.example>"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("I am out of the office until Monday and will read your email when I am back.\n")
    return bytes(message)


async def test_an_out_of_office_reply_is_not_filed_as_a_bounce(session, sessions, org, mailstack):
    delivery = await queue_delivery(session, org, to="jane@customer.example")
    mailstack.drop_into_mailbox(auto_reply(f"bounces+{delivery.verp_token}@localhost"), name="ooo")

    stats = await mailbox_reader(mailstack, sessions).poll_once()

    assert (stats.fetched, stats.auto_replies, stats.parsed, stats.unparseable) == (1, 1, 0, 0)
    assert await events_of(sessions) == []
    assert (await reload(sessions, delivery.id)).status == DeliveryStatus.QUEUED
    assert (await mailbox_reader(mailstack, sessions).poll_once()).fetched == 0  # handled: seen


async def test_an_unparseable_message_is_kept_counted_and_not_read_again(sessions, org, mailstack):
    junk = (
        b"From: someone@else.example\r\nSubject: \xff\xfe garbage\r\n"
        b"Content-Type: multipart/report; boundary=\r\n\r\n--\r\n\x00\x01"
    )
    mailstack.drop_into_mailbox(junk, name="junk")
    reader = mailbox_reader(mailstack, sessions)

    stats = await reader.poll_once()
    assert (stats.fetched, stats.unparseable, stats.imap_errors) == (1, 1, 0)
    [stored] = await events_of(sessions)
    assert stored.type == "unparsed" and stored.delivery_id is None and stored.source == "dsn"
    assert stored.detail["reason"]

    assert (await reader.poll_once()).fetched == 0
    assert reader.totals.unparseable == 1
    kept = [entry.name for entry in (mailstack.maildir / "cur").iterdir()]
    assert len(kept) == 1 and "S" in kept[0].rpartition(":2,")[2]  # still in the mailbox, flagged seen


async def test_the_loop_survives_the_mailbox_server_going_away_and_reads_on_once_it_is_back(
    sessions, org, mailstack, caplog
):
    caplog.set_level(logging.DEBUG)
    reader = mailbox_reader(mailstack, sessions, timeout=2.0, max_backoff=1.0)
    stop = asyncio.Event()
    loop = asyncio.create_task(reader.run(stop))
    async with stopping(loop, stop, within=30):
        await asyncio.to_thread(mailstack.stop_dovecot)
        assert await reached(lambda: counted(reader, "imap_errors", at_least=2), within=15.0)
        assert not loop.done()
        assert reader.totals.last_error

        mailstack.drop_into_mailbox(auto_reply("bounces@localhost"), name="after-restart")
        await asyncio.to_thread(mailstack.start_dovecot)
        # The same loop, untouched, reads the mailbox again once the server is back.
        assert await reached(lambda: counted(reader, "auto_replies", at_least=1), within=15.0)
        assert not loop.done()
    assert BOUNCE_PASSWORD not in caplog.text


async def test_a_wrong_password_is_counted_and_never_logged(sessions, mailstack, caplog):
    caplog.set_level(logging.DEBUG)
    account = ImapAccount(
        host="127.0.0.1", port=mailstack.imap_port, username=BOUNCE_USER, password="not-the-password", security="none"
    )
    reader = BounceMailbox(
        mailbox=ImapMailbox(account),
        sessions=sessions,
        verp_secret=SECRET,
        polling=MailboxPolling(timeout=5.0, attempts_per_poll=2),
    )

    stats = await reader.poll_once()

    assert stats.imap_errors == 1 and stats.fetched == 0  # not retried: servers slow down repeat failures
    assert stats.last_error and "log in" in stats.last_error
    assert "not-the-password" not in caplog.text
    assert "not-the-password" not in repr(account)


async def counted(reader: BounceMailbox, metric: str, *, at_least: int) -> bool:
    return int(getattr(reader.totals, metric)) >= at_least
