"""What filed events make of a status: recipient precedence, the worst relevant recipient, what never moves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    DeliveryEvent,
    DeliveryStatus,
    Organisation,
)
from services.sending.queue import claim_deliveries
from services.tracking.bounces import events_from_report, parse_bounce
from services.tracking.precedence import delivery_status_from, next_recipient_state
from tests.fixtures.dsn import load_dsn
from tests.harness.events import NOW, event, notifications, record, reload, sent_delivery


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
