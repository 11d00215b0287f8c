from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from services.db.models import Approval, Delivery, Notification, NotificationStatus, Organisation
from services.notifications import (
    BACKOFF_CAP_SECONDS,
    NotificationKind,
    NotificationRequest,
    claim_due_notifications,
    enqueue_notification,
    enqueue_notifications,
    mark_posted,
    mark_retry,
)
from tests import factories

NOW = datetime(2026, 11, 23, 14, 3, tzinfo=UTC)


async def _delivery(session: AsyncSession, org: Organisation, n: int = 1) -> Delivery:
    acme = await factories.customer(session, org.id, ref=f"C{n}")
    invoice = await factories.invoice(session, org.id, acme, number=f"INV-{n}")
    delivery = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        to=["ap@acme.example"],
        message_id=f"<m{n}@example.com>",
        verp_token=f"t{n}",
        requested_by="U1",
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def _status(session: AsyncSession, org: Organisation, delivery: Delivery, status: str) -> Notification:
    return await enqueue_notification(
        session,
        NotificationRequest(
            organisation_id=org.id,
            delivery_id=delivery.id,
            kind=NotificationKind.DELIVERY_STATUS,
            channel=None,
            payload={"status": status},
        ),
        now=NOW,
    )


async def test_a_burst_of_status_changes_waiting_to_be_posted_becomes_one_notification(session, org):
    delivery = await _delivery(session, org)
    first = await _status(session, org, delivery, "queued")
    second = await _status(session, org, delivery, "sending")
    await session.commit()

    rows = (await session.execute(select(Notification))).scalars().all()
    assert first.id == second.id
    assert [(r.kind, r.payload) for r in rows] == [("delivery_status", {"status": "sending"})]


async def test_other_kinds_are_never_coalesced(session, org):
    delivery = await _delivery(session, org)
    for _ in range(2):
        await enqueue_notification(
            session,
            NotificationRequest(
                organisation_id=org.id,
                delivery_id=delivery.id,
                kind=NotificationKind.DELIVERY_ALERT,
                channel="C1",
                payload={"status": "bounced"},
            ),
            now=NOW,
        )
    await session.commit()
    assert len((await session.execute(select(Notification))).scalars().all()) == 2


async def test_a_status_change_while_the_previous_one_is_being_posted_gets_its_own_row(session, org):
    delivery = await _delivery(session, org)
    await _status(session, org, delivery, "queued")
    [claimed] = await claim_due_notifications(session, now=NOW, limit=10)
    await _status(session, org, delivery, "accepted")
    await session.commit()

    rows = (await session.execute(select(Notification).order_by(Notification.id))).scalars().all()
    assert [r.payload["status"] for r in rows] == ["queued", "accepted"]
    assert rows[0].id == claimed.id


async def test_claiming_leases_rows_so_a_second_claim_gets_nothing_until_the_lease_ends(session, org):
    delivery = await _delivery(session, org)
    await _status(session, org, delivery, "queued")
    await session.commit()

    first = await claim_due_notifications(session, now=NOW, limit=10, lease_seconds=60)
    first_attempts = [n.attempts for n in first]
    await session.commit()
    again = await claim_due_notifications(session, now=NOW + timedelta(seconds=30), limit=10)
    after_lease = await claim_due_notifications(session, now=NOW + timedelta(seconds=61), limit=10)

    assert first_attempts == [1]
    assert again == []
    assert [n.id for n in after_lease] == [first[0].id]


async def test_a_newer_status_message_waits_until_the_older_one_of_the_same_delivery_is_posted(session, org):
    delivery = await _delivery(session, org)
    other = await _delivery(session, org, 2)
    older = await _status(session, org, delivery, "queued")
    older.attempts = 1  # already tried once, so the next change gets its own row
    newer = await _status(session, org, delivery, "accepted")
    unrelated = await _status(session, org, other, "queued")
    await session.commit()

    claimed = await claim_due_notifications(session, now=NOW, limit=10)
    assert [n.id for n in claimed] == [older.id, unrelated.id]
    await mark_posted(session, notification_id=older.id, ts="111.1", now=NOW, channel="C9")
    await session.commit()
    claimed = await claim_due_notifications(session, now=NOW, limit=10)
    assert [n.id for n in claimed] == [newer.id]


async def test_posting_the_first_status_message_remembers_where_it_is_for_updates(session, org):
    delivery = await _delivery(session, org)
    notification = await _status(session, org, delivery, "queued")
    await session.commit()
    await claim_due_notifications(session, now=NOW, limit=5)
    await mark_posted(session, notification_id=notification.id, ts="1700000000.000100", now=NOW, channel="C42")
    await session.commit()

    await session.refresh(delivery)
    await session.refresh(notification)
    assert (delivery.slack_channel, delivery.slack_ts) == ("C42", "1700000000.000100")
    assert (notification.status, notification.posted_ts) == (NotificationStatus.POSTED, "1700000000.000100")


async def test_posting_an_approval_request_remembers_its_message_on_the_approval(session, org):
    delivery = await _delivery(session, org)
    approval = Approval(organisation_id=org.id, delivery_id=delivery.id, requested_by="U1")
    session.add(approval)
    notification = await enqueue_notification(
        session,
        NotificationRequest(
            organisation_id=org.id,
            delivery_id=delivery.id,
            kind=NotificationKind.APPROVAL_REQUEST,
            channel="CAPPROVE",
            payload={},
        ),
        now=NOW,
    )
    await session.commit()
    await mark_posted(session, notification_id=notification.id, ts="5.5", now=NOW)
    await session.commit()
    await session.refresh(approval)
    assert (approval.slack_channel, approval.slack_ts) == ("CAPPROVE", "5.5")


async def test_a_failed_post_is_retried_later_with_growing_backoff(session, org):
    delivery = await _delivery(session, org)
    notification = await _status(session, org, delivery, "queued")
    await session.commit()
    delays = []
    now = NOW
    for _ in range(3):
        [claimed] = await claim_due_notifications(session, now=now, limit=1)
        retried = await mark_retry(
            session, notification_id=claimed.id, error="slack down", retry_after_seconds=None, now=now
        )
        await session.commit()
        delays.append((retried.next_attempt_at - now).total_seconds())
        now = retried.next_attempt_at
    assert delays == [5, 10, 20]
    assert notification.last_error == "slack down"


async def test_slacks_retry_after_is_honoured_when_longer_than_the_backoff(session, org):
    delivery = await _delivery(session, org)
    notification = await _status(session, org, delivery, "queued")
    await session.commit()
    await claim_due_notifications(session, now=NOW, limit=1)
    retried = await mark_retry(session, notification_id=notification.id, error="429", retry_after_seconds=42, now=NOW)
    assert retried.next_attempt_at == NOW + timedelta(seconds=42)


async def test_backoff_is_capped(session, org):
    delivery = await _delivery(session, org)
    notification = await _status(session, org, delivery, "queued")
    notification.attempts = 15
    await session.commit()
    retried = await mark_retry(
        session, notification_id=notification.id, error="x", retry_after_seconds=None, now=NOW, max_attempts=99
    )
    assert retried.next_attempt_at == NOW + timedelta(seconds=BACKOFF_CAP_SECONDS)


async def test_a_notification_is_given_up_after_the_last_attempt_with_its_error_kept(session, org):
    delivery = await _delivery(session, org)
    notification = await _status(session, org, delivery, "queued")
    await session.commit()
    now = NOW
    for _ in range(3):
        [claimed] = await claim_due_notifications(session, now=now, limit=1)
        await mark_retry(
            session, notification_id=claimed.id, error="channel_not_found", retry_after_seconds=None, now=now,
            max_attempts=3,
        )  # fmt: skip
        await session.commit()
        now += timedelta(hours=1)

    await session.refresh(notification)
    assert (notification.status, notification.last_error) == (NotificationStatus.FAILED, "channel_not_found")
    assert await claim_due_notifications(session, now=now + timedelta(days=1), limit=5) == []


async def test_two_drainers_claim_different_rows(sessions: async_sessionmaker[AsyncSession], session, org):
    for n in range(1, 5):
        await _status(session, org, await _delivery(session, org, n), "queued")
    await session.commit()

    async with sessions() as one, sessions() as two:
        first = await claim_due_notifications(one, now=NOW, limit=2)
        await one.commit()
        second = await claim_due_notifications(two, now=NOW, limit=10)
        await two.commit()

    assert len(first) == 2
    assert len(second) == 2
    assert not {n.id for n in first} & {n.id for n in second}


async def test_a_batch_absorbed_by_waiting_status_messages_rewrites_them_in_one_statement(session, org):
    """The group path (`enqueue_notifications`: the send worker's commit and the event filer): each
    delivery's waiting status message takes its newest payload, its channel only when one is given,
    and all of them are rewritten by one executemany, however many the batch absorbs."""
    first, second = await _delivery(session, org, 1), await _delivery(session, org, 2)
    waiting = [(await _status(session, org, d, "queued")).id for d in (first, second)]
    first_id, second_id, org_id = first.id, second.id, org.id
    await session.commit()
    updates: list[bool] = []

    def count(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE NOTIFICATIONS"):
            updates.append(executemany)

    def enqueue(sync: Session) -> None:
        connection = sync.connection()
        event.listen(connection, "before_cursor_execute", count)
        status = NotificationKind.DELIVERY_STATUS
        enqueue_notifications(
            connection,
            requests=[
                NotificationRequest(org_id, first_id, status, "CSTATUS", {"status": "sending"}),
                NotificationRequest(org_id, second_id, status, None, {"status": "sending"}),
                NotificationRequest(org_id, first_id, status, None, {"status": "accepted"}),
                NotificationRequest(org_id, second_id, NotificationKind.DELIVERY_ALERT, None, {"type": "failed"}),
            ],
            now=NOW,
        )

    await session.run_sync(enqueue)
    await session.commit()

    assert updates == [True]
    session.expire_all()  # read what was committed, not the objects loaded before
    rows = (await session.execute(select(Notification).order_by(Notification.id))).scalars().all()
    assert [(r.id, r.delivery_id, r.kind, r.channel, r.payload) for r in rows] == [
        (waiting[0], first_id, "delivery_status", "CSTATUS", {"status": "accepted"}),
        (waiting[1], second_id, "delivery_status", None, {"status": "sending"}),
        (rows[2].id, second_id, "delivery_alert", None, {"type": "failed"}),
    ]
