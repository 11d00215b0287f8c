"""Filing delivery events: correlation (VERP token, ENVID, Message-ID), orphans, deduplication."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    DeliveryEvent,
    Organisation,
    Suppression,
)
from services.tracking.bounces import events_from_report, parse_bounce
from services.tracking.events import (
    UnparsedMessage,
    count_unmatched_events,
    list_unmatched_events,
    record_unparsed,
)
from tests.fixtures.dsn import load_dsn
from tests.harness.events import NOW, event, notifications, record, sent_delivery


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
    garbage = UnparsedMessage(source="dsn", raw="garbage", reason="no delivery report", source_event_id="u1")
    await record_unparsed(session, garbage, now=NOW)
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
