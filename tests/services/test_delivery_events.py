"""Filing delivery events: correlation, orphans, deduplication, status precedence, alerts, suppression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.bounces import events_from_report, parse_bounce, read_bounce
from services.db.models import (
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Notification,
    Organisation,
    Suppression,
)
from services.delivery_checks import new_message_id, new_verp_token
from services.delivery_events import (
    IncomingEvent,
    RecordedEvent,
    count_unmatched_events,
    list_unmatched_events,
    record_delivery_event,
    record_delivery_events,
    record_unparsed,
)
from services.delivery_precedence import delivery_status_from, next_recipient_state
from services.sending.queue import claim_deliveries
from tests import factories
from tests.fixtures.dsn import load_dsn

SECRET = b"verp-test-secret"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def sent_delivery(
    session: AsyncSession, org: Organisation, *, to: tuple[str, ...] = ("ap@acme.example",), number: str = "INV-0001"
) -> Delivery:
    """A delivery the SMTP server accepted for every recipient, as the worker leaves it."""
    customer = await factories.customer(session, org.id, ref=f"C-{number}", emails=to)
    invoice = await factories.invoice(session, org.id, customer, number=number)
    delivery = Delivery(
        organisation_id=org.id,
        invoice_id=invoice.id,
        status=DeliveryStatus.ACCEPTED,
        to=list(to),
        subject=f"Invoice {number}",
        message_id=new_message_id(number, "example.com"),
        verp_token=new_verp_token(SECRET),
        requested_by="U1",
        attempts=1,
        next_attempt_at=NOW - timedelta(minutes=5),
        finished_at=NOW - timedelta(minutes=5),
        recipient_results={address: {"status": "accepted", "reply": "250 2.0.0 Ok"} for address in to},
    )
    session.add(delivery)
    await session.commit()
    return delivery


def event(type_: str, recipient: str | None = "ap@acme.example", **fields: Any) -> IncomingEvent:
    values: dict[str, Any] = {
        "source": "sendgrid",
        "type": type_,
        "recipient": recipient,
        "occurred_at": NOW,
        "source_event_id": f"evt-{type_}-{recipient}-{fields.get('bounce_kind')}",
        "raw": "{}",
    }
    return IncomingEvent(**(values | fields))


async def record(session: AsyncSession, incoming: IncomingEvent, **kwargs: Any) -> RecordedEvent:
    recorded = await record_delivery_event(session, event=incoming, now=NOW, verp_secret=SECRET, **kwargs)
    await session.commit()
    return recorded


async def notifications(session: AsyncSession, kind: str) -> list[Notification]:
    rows = await session.execute(select(Notification).where(Notification.kind == kind).order_by(Notification.id))
    return list(rows.scalars())


async def reload(session: AsyncSession, delivery: Delivery) -> Delivery:
    await session.refresh(delivery)
    return delivery


async def test_dsn_is_filed_against_its_delivery_by_verp_token(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org, to=("nobody@acme.example",))
    raw = load_dsn("postfix_hard_5.1.1.eml", token=delivery.verp_token, envid="", message_id="<other@x>")
    report = parse_bounce(raw)
    assert report is not None

    [incoming] = events_from_report(report, raw=raw, now=NOW)
    recorded = await record(session, incoming)

    assert recorded.delivery_id == delivery.id and recorded.new_status == "bounced" and recorded.status_changed
    stored = (await session.execute(select(DeliveryEvent))).scalar_one()
    assert (stored.source, stored.type, stored.recipient) == ("dsn", "bounced", "nobody@acme.example")
    assert stored.detail["reason"] == "the mailbox does not exist" and stored.detail["status"] == "5.1.1"
    assert "Undelivered Mail Returned to Sender" in (stored.raw or "")


async def test_forged_verp_token_is_ignored_and_envid_then_message_id_correlate(
    session: AsyncSession, org: Organisation
) -> None:
    first = await sent_delivery(session, org, number="INV-0001")
    second = await sent_delivery(session, org, number="INV-0002")
    forged = first.verp_token.split("-")[0] + "-aaaaaaaaaaaaaaaa"

    by_envid = await record(session, event("delivered", verp_token=forged, envid=second.verp_token))
    by_message_id = await record(
        session, event("opened", verp_token=forged, message_id=first.message_id.strip("<>"), source_event_id="o1")
    )

    assert by_envid.delivery_id == second.id
    assert by_message_id.delivery_id == first.id


async def test_verp_token_wins_over_a_message_id_of_another_delivery(session: AsyncSession, org: Organisation) -> None:
    first = await sent_delivery(session, org, number="INV-0001")
    second = await sent_delivery(session, org, number="INV-0002")

    recorded = await record(session, event("delivered", verp_token=first.verp_token, message_id=second.message_id))

    assert recorded.delivery_id == first.id


async def test_unknown_delivery_is_stored_as_an_orphan_and_counted(session: AsyncSession, org: Organisation) -> None:
    recorded = await record(session, event("bounced", message_id="<nobody-knows@x>", bounce_kind="hard"))
    await record_unparsed(
        session, source="dsn", raw="garbage", reason="no delivery report", source_event_id="u1", now=NOW
    )
    await session.commit()

    assert recorded.delivery_id is None and not recorded.duplicate
    assert await count_unmatched_events(session, org.id) == 2
    unmatched = await list_unmatched_events(session, organisation_id=org.id)
    assert {(u.type, u.reason) for u in unmatched} == {
        ("unparsed", "no delivery report"),
        ("bounced", "the email was returned undelivered"),
    }
    assert (await session.execute(select(func.count()).select_from(Suppression))).scalar_one() == 0


async def test_duplicate_event_changes_nothing(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org)
    bounce = event("bounced", verp_token=delivery.verp_token, bounce_kind="hard", status_code="5.1.1")

    first = await record(session, bounce)
    again = await record(session, bounce)

    assert not first.duplicate and again.duplicate and not again.status_changed and again.event_id is None
    assert (await session.execute(select(func.count()).select_from(DeliveryEvent))).scalar_one() == 1
    assert len(await notifications(session, "delivery_alert")) == 1


async def test_same_dsn_read_twice_is_filed_once(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org, to=("gone@acme.example", "full@acme.example"))
    raw = load_dsn("exim_two_recipients.eml", token=delivery.verp_token)
    report = parse_bounce(raw)
    assert report is not None

    for _ in range(2):
        for incoming in events_from_report(report, raw=raw, now=NOW):
            await record(session, incoming)

    assert (await session.execute(select(func.count()).select_from(DeliveryEvent))).scalar_one() == 2


async def test_later_delivered_does_not_undo_a_bounce(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org)
    await record(session, event("bounced", verp_token=delivery.verp_token, bounce_kind="hard", status_code="5.1.1"))

    later = await record(session, event("delivered", verp_token=delivery.verp_token))

    assert not later.status_changed and later.new_status == "bounced"
    delivery = await reload(session, delivery)
    assert delivery.recipient_results["ap@acme.example"]["status"] == "bounced"


async def test_one_bounced_recipient_of_two_makes_the_delivery_bounced(
    session: AsyncSession, org: Organisation
) -> None:
    delivery = await sent_delivery(session, org, to=("ap@acme.example", "boss@acme.example"))
    await record(session, event("delivered", verp_token=delivery.verp_token))
    assert (await reload(session, delivery)).status == "delivered"

    await record(session, event("bounced", "boss@acme.example", verp_token=delivery.verp_token, bounce_kind="hard"))

    delivery = await reload(session, delivery)
    assert delivery.status == "bounced"
    assert {k: v["status"] for k, v in delivery.recipient_results.items()} == {
        "ap@acme.example": "delivered",
        "boss@acme.example": "bounced",
    }


async def test_opened_upgrades_delivered_and_pixel_opens_are_marked_unreliable(
    session: AsyncSession, org: Organisation
) -> None:
    delivery = await sent_delivery(session, org)
    await record(session, event("delivered", verp_token=delivery.verp_token))

    opened = await record(session, event("opened", source="pixel", verp_token=delivery.verp_token))

    assert opened.new_status == "opened"
    stored = (await session.execute(select(DeliveryEvent).where(DeliveryEvent.source == "pixel"))).scalar_one()
    assert stored.detail == {"reliable": False}


async def test_soft_bounce_after_acceptance_shows_deferred_and_is_never_resent(
    session: AsyncSession, org: Organisation
) -> None:
    delivery = await sent_delivery(session, org, to=("busy@acme.example",))
    raw = load_dsn("postfix_failed_4.2.1.eml", token=delivery.verp_token)
    report = parse_bounce(raw)
    assert report is not None

    [incoming] = events_from_report(report, raw=raw, now=NOW)
    recorded = await record(session, incoming)

    assert recorded.new_status == "deferred"
    claimable = await session.run_sync(
        lambda sync: claim_deliveries(sync.connection(), worker_id="w1", now=NOW + timedelta(days=1), limit=10)
    )
    assert claimable == []
    [alert] = await notifications(session, "delivery_alert")
    assert alert.payload["reason"] == "the mailbox is disabled and not accepting email"


async def test_deferred_does_not_hide_a_known_delivery(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org)
    await record(session, event("delivered", verp_token=delivery.verp_token))

    recorded = await record(session, event("deferred", verp_token=delivery.verp_token))

    assert recorded.new_status == "delivered" and not recorded.status_changed


async def test_events_do_not_move_a_delivery_that_was_never_handed_over(
    session: AsyncSession, org: Organisation
) -> None:
    delivery = await sent_delivery(session, org)
    delivery.status = DeliveryStatus.QUEUED
    await session.commit()

    recorded = await record(session, event("delivered", verp_token=delivery.verp_token))

    assert recorded.delivery_id == delivery.id and recorded.new_status == "queued" and not recorded.status_changed


async def test_bounce_owes_slack_a_status_update_and_an_alert_in_plain_words(
    session: AsyncSession, org: Organisation
) -> None:
    delivery = await sent_delivery(session, org, to=("full@acme.example",))
    recorded = await record(
        session,
        event("bounced", "full@acme.example", verp_token=delivery.verp_token, bounce_kind="hard",
              status_code="5.2.2", diagnostic="552 5.2.2 Mailbox full"),
    )  # fmt: skip

    [status] = await notifications(session, "delivery_status")
    [alert] = await notifications(session, "delivery_alert")
    assert status.payload == {"delivery_id": delivery.id, "status": "bounced"}
    assert alert.delivery_id == delivery.id
    assert {k: alert.payload[k] for k in ("event_id", "recipient", "type", "reason", "diagnostic")} == {
        "event_id": recorded.event_id,
        "recipient": "full@acme.example",
        "type": "bounced",
        "reason": "mailbox full",
        "diagnostic": "552 5.2.2 Mailbox full",
    }


async def test_complaint_alerts_and_suppresses(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org)
    await record(session, event("delivered", verp_token=delivery.verp_token))

    recorded = await record(session, event("complained", verp_token=delivery.verp_token))

    assert recorded.new_status == "complained"
    [alert] = await notifications(session, "delivery_alert")
    assert alert.payload["reason"] == "the recipient marked the email as spam"
    row = (await session.execute(select(Suppression))).scalar_one()
    assert (row.email, row.reason, row.active) == ("ap@acme.example", "complaint", True)


async def test_hard_bounce_suppresses_the_address(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org, to=("Nobody@Acme.example",))

    await record(session, event("bounced", "nobody@acme.example", verp_token=delivery.verp_token, bounce_kind="hard"))

    row = (await session.execute(select(Suppression))).scalar_one()
    assert (row.email, row.reason, row.active) == ("nobody@acme.example", "hard_bounce", True)
    delivery = await reload(session, delivery)
    assert delivery.recipient_results["Nobody@Acme.example"]["status"] == "bounced"


async def test_auto_reply_is_neither_an_event_nor_a_suppression(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org)
    reading = read_bounce(load_dsn("out_of_office.eml", token=delivery.verp_token))

    assert reading.report is None and reading.not_bounce == "auto-reply"
    assert (await session.execute(select(func.count()).select_from(Suppression))).scalar_one() == 0


@pytest.mark.parametrize(
    ("current", "claimed", "after"),
    [
        (None, "bounced", "bounced"),
        ("accepted", "deferred", "deferred"),
        ("deferred", "delivered", "delivered"),
        ("delivered", "deferred", "delivered"),
        ("opened", "deferred", "opened"),
        ("accepted", "opened", "opened"),
        ("delivered", "opened", "opened"),
        ("deferred", "opened", "deferred"),
        ("bounced", "delivered", "bounced"),
        ("bounced", "opened", "bounced"),
        ("complained", "bounced", "complained"),
        ("delivered", "complained", "complained"),
        ("opened", "dropped", "dropped"),
        ("delivered", "accepted", "delivered"),
        ("delivered", None, "delivered"),
    ],
)
def test_recipient_precedence_table(current: str | None, claimed: str | None, after: str) -> None:
    assert next_recipient_state(current, claimed) == after


@pytest.mark.parametrize(
    ("states", "status"),
    [
        (["delivered", "bounced"], "bounced"),
        (["opened", "delivered"], "opened"),
        (["accepted", "deferred"], "deferred"),
        (["complained", "bounced"], "bounced"),
        (["failed", "opened"], "failed"),
        ([None], None),
    ],
)
def test_delivery_shows_its_worst_relevant_recipient(states: list[str | None], status: str | None) -> None:
    assert delivery_status_from(states) == status


async def test_a_batch_files_events_in_order_and_owes_one_status_message(
    session: AsyncSession, org: Organisation
) -> None:
    delivery = await sent_delivery(session, org, to=("ap@acme.example", "boss@acme.example"))
    token = delivery.verp_token
    batch = [
        event("delivered", verp_token=token),
        event("delivered", verp_token=token),  # the provider sent it twice in one request
        event("opened", verp_token=token),
        event("bounced", "boss@acme.example", verp_token=token, bounce_kind="hard", status_code="5.1.1"),
    ]

    recorded = await record_delivery_events(session, events=batch, now=NOW, verp_secret=SECRET)
    await session.commit()

    assert [(r.duplicate, r.new_status) for r in recorded] == [
        (False, "delivered"),
        (True, "delivered"),
        (False, "opened"),
        (False, "bounced"),
    ]
    [status] = await notifications(session, "delivery_status")
    assert status.payload == {"delivery_id": delivery.id, "status": "bounced"}
    assert [a.payload["recipient"] for a in await notifications(session, "delivery_alert")] == ["boss@acme.example"]


async def test_a_status_message_still_waiting_absorbs_the_next_change(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org)
    await record(session, event("delivered", verp_token=delivery.verp_token))

    await record(session, event("opened", verp_token=delivery.verp_token))

    [status] = await notifications(session, "delivery_status")
    assert status.payload["status"] == "opened"


async def test_a_link_page_view_without_recipient_marks_the_delivery_opened(
    session: AsyncSession, org: Organisation
) -> None:
    delivery = await sent_delivery(session, org)
    await record(session, event("delivered", verp_token=delivery.verp_token))

    recorded = await record(session, event("viewed", None, source="link", verp_token=delivery.verp_token))

    assert recorded.new_status == "opened"
    delivery = await reload(session, delivery)
    assert delivery.recipient_results["ap@acme.example"]["status"] == "delivered"


async def test_smtp_failure_is_not_undone_by_a_later_delivered_report(session: AsyncSession, org: Organisation) -> None:
    delivery = await sent_delivery(session, org)
    delivery.status = DeliveryStatus.FAILED
    delivery.recipient_results = {}
    await session.commit()

    recorded = await record(session, event("delivered", verp_token=delivery.verp_token))

    assert recorded.new_status == "failed" and not recorded.status_changed
