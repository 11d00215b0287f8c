"""The email as sent: what the real worker handed to a real aiosmtpd server is kept, rebuilt byte for
byte, its attachments' shared parts stored once, and purged after the retention without touching
a blob another message still uses."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.email_retention import EmailRetention
from bot.loop_health import LoopHealth
from services.db.models import (
    Delivery,
    DeliveryAttachment,
    SentBlob,
    SentMessage,
    SentMessageBlob,
    StoredFile,
    utcnow,
)
from services.email.stored_form import pack_message, rebuild
from services.sending.extra_files import CheckedFile
from services.sending.extra_store import extra_files_of, store_extra_files
from services.sending.sent_messages import (
    SentItem,
    purge_sent_messages,
    read_sent_message,
    sent_message_view,
    store_sent_messages,
)
from tests.harness.sending import make_worker, queue_delivery

pytestmark = pytest.mark.smtp_client(timeout=5.0, pool_size=1)


async def _count(session, model) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_the_stored_email_is_byte_identical_to_the_data_the_server_received(
    sessions, session, org, transport, smtp
):
    first = await queue_delivery(session, org, number="INV-0001")
    second = await queue_delivery(session, org, number="INV-0002", to=("ap@beta.example",))

    assert await make_worker(sessions, transport).drain() == 2

    by_rcpt = {received.recipients[0]: received.data for received in smtp.received}
    async with sessions() as reading:
        kept_first = await read_sent_message(reading, organisation_id=org.id, delivery_id=first.id)
        kept_second = await read_sent_message(reading, organisation_id=org.id, delivery_id=second.id)
        messages = list((await reading.execute(select(SentMessage).order_by(SentMessage.delivery_id))).scalars())
        stored = sum(len(m.skeleton) for m in messages) + int(
            (await reading.execute(select(func.sum(func.length(SentBlob.content))))).scalar_one()
        )
        shared = (
            await reading.execute(
                select(SentMessageBlob.digest).group_by(SentMessageBlob.digest).having(func.count() == 2)
            )
        ).all()
    assert kept_first is not None and kept_second is not None
    assert kept_first == by_rcpt["ap@acme.example"]
    assert kept_second == by_rcpt["ap@beta.example"]
    assert [m.size for m in messages] == [len(kept_first), len(kept_second)]
    assert shared, "the fonts embedded in both PDFs are one blob each"
    assert stored < 0.6 * (len(kept_first) + len(kept_second))


async def test_a_person_sees_the_headers_the_text_and_the_attachments_of_the_email_as_sent(
    sessions, session, org, transport, smtp
):
    delivery = await queue_delivery(session, org, number="INV-0001")
    assert await make_worker(sessions, transport).drain() == 1

    async with sessions() as reading:
        view = await sent_message_view(reading, organisation_id=org.id, delivery_id=delivery.id)
        other_org = await sent_message_view(reading, organisation_id=org.id + 1, delivery_id=delivery.id)

    assert view is not None and other_org is None
    headers = dict(view.headers)
    assert headers["To"] == "ap@acme.example"
    assert headers["Message-ID"] == delivery.message_id
    assert headers["Subject"] == delivery.subject
    assert {"From", "Date"} <= set(headers)
    assert delivery.body_text.splitlines()[0] in view.text
    names = [a.name for a in view.attachments]
    assert names == ["INV-0001.pdf", "INV-0001.xml"]
    assert all(a.size > 500 for a in view.attachments)
    assert view.size == len(smtp.received[0].data)


async def test_purge_deletes_expired_emails_and_keeps_the_blobs_a_kept_email_still_uses(
    sessions, session, org, transport, smtp
):
    old = await queue_delivery(session, org, number="INV-0001")
    recent = await queue_delivery(session, org, number="INV-0002")
    assert await make_worker(sessions, transport).drain() == 2
    now = utcnow()
    async with sessions() as writing, writing.begin():
        await writing.execute(
            update(SentMessage).where(SentMessage.delivery_id == old.id).values(sent_at=now - timedelta(days=401))
        )
        blobs_before = await _count(writing, SentBlob)

    kept_forever = await purge_sent_messages(sessions, as_of=now + timedelta(days=2), retention_days=0)
    assert (kept_forever.messages, kept_forever.blobs) == (0, 0)

    purged = await purge_sent_messages(sessions, as_of=now + timedelta(days=2), retention_days=400)

    assert purged.messages == 1
    assert 0 < purged.blobs < blobs_before  # its own PDF, UBL; not the fonts the other PDF uses
    recent_data = next(r.data for r in smtp.received if recent.message_id.encode() in r.data)
    async with sessions() as reading:
        assert await read_sent_message(reading, organisation_id=org.id, delivery_id=old.id) is None
        assert await read_sent_message(reading, organisation_id=org.id, delivery_id=recent.id) == recent_data

    everything = await purge_sent_messages(sessions, as_of=now + timedelta(days=500), retention_days=400)
    assert everything.messages == 1
    async with sessions() as reading:
        assert await _count(reading, SentBlob) == 0
        assert await _count(reading, SentMessageBlob) == 0


async def test_a_delivery_handed_over_again_keeps_its_latest_message_and_its_round_commits(
    sessions, session, org, transport, smtp
):
    """Ambiguous, then retried: the second hand-over's round must not fail on the first's row."""
    delivery = await queue_delivery(session, org, number="INV-0001")
    assert await make_worker(sessions, transport).drain() == 1
    again = pack_message(b"Subject: handed over again\r\nMessage-ID: <again@example.com>\r\n\r\nthe retry\r\n")
    async with sessions() as writing, writing.begin():
        connection = await writing.connection()
        await connection.run_sync(
            lambda sync: store_sent_messages(sync, items=[SentItem(org.id, delivery.id, again)], now=utcnow())
        )
    async with sessions() as reading:
        assert await read_sent_message(reading, organisation_id=org.id, delivery_id=delivery.id) == rebuild(
            again.skeleton, again.blobs
        )
        assert await _count(reading, SentMessage) == 1


async def test_each_worker_applies_the_retention_by_itself_without_a_cron_job(sessions, session, org, transport):
    """The worker's email-retention loop (bot/email_retention.py): a round deletes what is past the
    retention, keeps the rest, and the loop stops when asked."""
    old_id = (await queue_delivery(session, org, number="INV-0001")).id
    await queue_delivery(session, org, number="INV-0002")
    assert await make_worker(sessions, transport).drain() == 2
    now = utcnow()
    async with sessions() as writing, writing.begin():
        await writing.execute(
            update(SentMessage).where(SentMessage.delivery_id == old_id).values(sent_at=now - timedelta(days=401))
        )
    stop = asyncio.Event()
    heartbeat = LoopHealth().loop("email retention")
    loop = EmailRetention(sessions, retention_days=400, heartbeat=heartbeat, every=0.05, clock=lambda: now)

    running = asyncio.create_task(loop.run(stop))
    async with asyncio.timeout(10):
        while await _count(session, SentMessage) != 1:
            await asyncio.sleep(0.05)
            session.expire_all()
    stop.set()
    await asyncio.wait_for(running, timeout=5)

    kept = (await session.execute(select(SentMessage.delivery_id))).scalars().all()
    assert old_id not in kept and len(kept) == 1


async def test_purge_deletes_the_extra_files_only_once_no_delivery_within_the_retention_carries_them(
    sessions, session, org, transport, smtp
):
    terms = CheckedFile("terms.txt", b"Pay within 30 days.\n", "text/plain")
    price_list = CheckedFile("prices.txt", b"Widgets: 10 EUR\n", "text/plain")
    old = await queue_delivery(session, org, number="INV-0001")
    recent = await queue_delivery(session, org, number="INV-0002")
    async with sessions() as writing, writing.begin():
        await store_extra_files(writing, delivery_ids=[old.id], files=[terms, price_list])
        await store_extra_files(writing, delivery_ids=[recent.id], files=[terms])  # the same bytes, stored once
    assert await make_worker(sessions, transport).drain() == 2
    now = utcnow()
    async with sessions() as writing, writing.begin():
        await writing.execute(
            update(Delivery).where(Delivery.id == old.id).values(finished_at=now - timedelta(days=401))
        )

    purged = await purge_sent_messages(sessions, as_of=now + timedelta(days=2), retention_days=400)

    assert purged.files == 1  # the price list; the terms travel with a delivery still kept
    async with sessions() as reading:
        assert await extra_files_of(reading, organisation_id=org.id, delivery_id=old.id) == ()
        assert await extra_files_of(reading, organisation_id=org.id, delivery_id=recent.id) == (terms,)
        assert await _count(reading, StoredFile) == 1

    everything = await purge_sent_messages(sessions, as_of=now + timedelta(days=500), retention_days=400)
    assert everything.files == 1
    async with sessions() as reading:
        assert await _count(reading, StoredFile) == 0 and await _count(reading, DeliveryAttachment) == 0
