"""What filing an event owes: Slack status messages and alerts in plain words, suppressions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import (
    Organisation,
    Suppression,
)
from services.tracking.bounces import read_bounce
from services.tracking.events import (
    record_delivery_events,
)
from tests.fixtures.dsn import load_dsn
from tests.harness.events import NOW, SECRET, event, notifications, record, reload, sent_delivery


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
