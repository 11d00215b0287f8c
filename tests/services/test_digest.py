"""The daily digest end to end: evaluated by the real service on the real database, posted by the real
notifier through `slack_sdk` to the fake Slack Web API; the assertions read what Slack received.

The organisation's day is fixed (Monday 2026-12-07, its digest at 09:00 in its own time zone), so
the figures are known: one invoice due that day, one 1–30, one 31–60 and one 90+ days overdue.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bootstrap import Loop, bootstrap
from bot.config import load_settings
from bot.notifier import Notifier
from bot.sandbox.slack_api import FakeSlackApi
from services.authorization import ApprovalRules
from services.db.models import (
    Delivery,
    DeliveryStatus,
    Invoice,
    InvoiceStatus,
    Organisation,
    OrganisationSettingsRow,
    Payment,
    PaymentSource,
    PeriodClaim,
)
from services.digest import evaluate_digests
from services.invoicing.payments import PaymentRequest, record_payment
from services.unit_of_work import units_over
from tests import factories
from tests.harness.processes import looping
from tests.harness.reading import block_texts, channel_messages
from tests.harness.waiting import until

DAY = date(2026, 12, 7)  # a Monday
BRUSSELS = ZoneInfo("Europe/Brussels")
VERP = b"test-verp-secret"


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = BRUSSELS) -> datetime:
    """A moment in the organisation's zone, as the UTC instant the evaluator is given."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


async def digest_on(
    session: AsyncSession, org: Organisation, *, zone: str = "Europe/Brussels", weekly: int = 0
) -> None:
    session.add(
        OrganisationSettingsRow(
            organisation_id=org.id, updated_by="operator", time_zone=zone, digest_hour=9, weekly_summary_day=weekly
        )
    )
    await session.commit()


@pytest.fixture
async def books(session: AsyncSession, org: Organisation) -> None:
    """Owed: due today €120, 10 days overdue €144 (€20 paid), 45 days €240, 100 days £60; a draft and a paid one."""
    owner = await factories.customer(session, org.id)
    for number, due, amount, currency, status in (
        ("INV-TODAY", DAY, "100.00", "EUR", InvoiceStatus.VALIDATED),
        ("INV-10", DAY - timedelta(days=10), "120.00", "EUR", InvoiceStatus.SENT),
        ("INV-45", DAY - timedelta(days=45), "200.00", "EUR", InvoiceStatus.SENT),
        ("INV-100", DAY - timedelta(days=100), "50.00", "GBP", InvoiceStatus.SENT),
        ("INV-DRAFT", DAY - timedelta(days=5), "999.00", "EUR", InvoiceStatus.DRAFT),
        ("INV-PAID", DAY - timedelta(days=20), "10.00", "EUR", InvoiceStatus.SENT),
    ):
        await factories.invoice(session, org.id, owner, number=number, due=due, amount=amount, currency=currency)
        await session.execute(update(Invoice).where(Invoice.number == number).values(status=status))
    await session.commit()
    for number, amount in (("INV-10", "20.00"), ("INV-PAID", "12.00")):
        await record_payment(
            session,
            organisation_id=org.id,
            rules=ApprovalRules(),
            request=PaymentRequest(
                number=number, amount=Decimal(amount), paid_on=DAY, actor="U1", source=PaymentSource.SLACK
            ),
        )
    await session.commit()
    # What happened since yesterday's digest: INV-10 sent yesterday, both payments this morning,
    # INV-PAID paid in full two days ago.
    await session.execute(
        update(Invoice).where(Invoice.number == "INV-10").values(sent_at=at(DAY - timedelta(days=1), 15))
    )
    await session.execute(update(Payment).values(recorded_at=at(DAY, 8)))
    await session.execute(
        update(Invoice).where(Invoice.number == "INV-PAID").values(paid_at=at(DAY - timedelta(days=2), 12))
    )
    await session.commit()


async def posted_digests(notifier: Notifier, fake_slack: FakeSlackApi) -> list[str]:
    while await notifier.drain_once():
        pass
    texts = [block_texts(message.blocks) for message in channel_messages(fake_slack)]
    return [text for text in texts if text.startswith("*Daily digest")]  # not the sends' status messages


async def test_two_evaluators_at_the_same_moment_post_one_digest_with_the_figures(
    sessions: async_sessionmaker[AsyncSession], session, org, books, notifier, fake_slack
):
    await digest_on(session, org)
    units = units_over(sessions)

    first, second = await asyncio.gather(
        evaluate_digests(units, now=at(DAY, 9, 0)), evaluate_digests(units, now=at(DAY, 9, 0))
    )

    assert len(first) + len(second) == 1
    assert await session.scalar(select(func.count()).select_from(PeriodClaim)) == 1
    [text] = await posted_digests(notifier, fake_slack)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # the digest, and nothing else
    assert "Daily digest — 2026-12-07" in text and "late" not in text
    assert "Due today*: 1 invoice (€120.00)" in text
    assert "Still to send*: 2 due invoice(s)" in text  # the due listing's: INV-TODAY and the draft
    assert "1–30 days overdue: 1 invoice (€124.00)" in text  # €144 less the €20 paid
    assert "31–60 days overdue: 1 invoice (€240.00)" in text
    assert "90+ days overdue: 1 invoice (£60.00)" in text
    assert "total €484.00, £60.00" in text
    assert "sent 1 invoice (€144.00)" in text and "paid 2 payments (€32.00)" in text
    # evaluated again the same day (another worker, a minute later): nothing more
    assert await evaluate_digests(units, now=at(DAY, 9, 1)) == []
    assert len(await posted_digests(notifier, fake_slack)) == 1


async def test_after_a_three_day_outage_the_missed_digests_are_caught_up_once_saying_it_is_late(
    sessions: async_sessionmaker[AsyncSession], session, org, books, notifier, fake_slack
):
    await digest_on(session, org, weekly=3)  # Thursday: not in this test's days
    units = units_over(sessions)
    before = DAY - timedelta(days=4)
    assert len(await evaluate_digests(units, now=at(before, 9, 0))) == 1
    # the workers are down on the 4th, 5th and 6th; back on the 7th at 10:30
    [caught_up] = await evaluate_digests(units, now=at(DAY, 10, 30))
    assert (caught_up.period, caught_up.late) == ("2026-12-07", True)
    assert await evaluate_digests(units, now=at(DAY, 10, 31)) == []
    assert await evaluate_digests(units, now=at(DAY, 23, 59)) == []

    first, late = await posted_digests(notifier, fake_slack)
    assert "Daily digest — 2026-12-03" in first and "late" not in first
    assert "Daily digest — 2026-12-07* (late: posted after an outage" in late
    assert "the digests of the 3 days before were missed" in late
    assert "sent 1 invoice" in late and "paid 2 payments (€32.00)" in late  # everything since the 3rd


async def test_no_digest_before_its_hour_in_the_organisations_time_zone(
    sessions: async_sessionmaker[AsyncSession], session, org, books, notifier, fake_slack
):
    new_york = ZoneInfo("America/New_York")  # 09:00 there is 14:00 UTC in December
    await digest_on(session, org, zone="America/New_York")
    units = units_over(sessions)

    assert await evaluate_digests(units, now=at(DAY, 8, 59, new_york)) == []
    assert await evaluate_digests(units, now=datetime.combine(DAY, time(9, 30), tzinfo=UTC)) == []  # 04:30 there
    assert await posted_digests(notifier, fake_slack) == []

    [posted] = await evaluate_digests(units, now=at(DAY, 9, 0, new_york))
    assert posted.period == "2026-12-07"
    [text] = await posted_digests(notifier, fake_slack)
    assert "time zone America/New_York" in text


async def test_the_weekly_summary_comes_with_the_digest_of_its_day_only(
    sessions: async_sessionmaker[AsyncSession], session, org, books, notifier, fake_slack
):
    await digest_on(session, org, weekly=0)  # Monday
    accepted = await factories.queued_delivery(session, org.id, verp_secret=VERP, number="INV-W1")
    bounced = await factories.queued_delivery(session, org.id, verp_secret=VERP, number="INV-W2")
    for delivery, status in ((accepted, DeliveryStatus.ACCEPTED), (bounced, DeliveryStatus.BOUNCED)):
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id)
            .values(status=status, created_at=at(DAY - timedelta(days=3), 10))
        )
    await session.execute(update(Invoice).where(Invoice.number == "INV-PAID").values(status=InvoiceStatus.PAID))
    await session.commit()
    units = units_over(sessions)

    assert [d.weekly for d in await evaluate_digests(units, now=at(DAY, 9, 5))] == [True]
    assert [d.weekly for d in await evaluate_digests(units, now=at(DAY + timedelta(days=1), 9, 5))] == [False]

    monday, tuesday = await posted_digests(notifier, fake_slack)
    assert "Weekly summary" in monday and "Weekly summary" not in tuesday
    assert "Collected: €32.00" in monday
    assert "Bounce rate: 50.0 % (1 of 2 emails)" in monday
    # INV-PAID: issued 2026-10-01, paid 2026-12-05
    assert "Average days to pay: 65.0 (1 invoice paid)" in monday
    assert "INV-W2" in monday and "bounced" in monday  # the bounce is among the problems


async def test_the_worker_runs_the_digest_loop_which_posts_at_the_hour_and_reports_to_its_heartbeat(
    database_url: str, sessions: async_sessionmaker[AsyncSession], session, org, books, notifier, fake_slack
):
    await digest_on(session, org)
    settings = load_settings(DATABASE_URL=database_url, INVOICEBOT_SECRET_KEY="digest-test-secret")
    runtime = bootstrap(settings, loops=[Loop.DIGEST])
    try:
        assert runtime.digest is not None
        runtime.digest.every, runtime.digest.clock = 0.05, lambda: at(DAY, 9, 1)
        async with looping(runtime.digest.run):
            await until(
                lambda: notifier.drain_once(), within=10, what="the loop owed the digest and the notifier posted it"
            )
            [verdict] = runtime.health.verdicts()
            assert (verdict.name, verdict.healthy) == ("daily digest", True)
        [text] = await posted_digests(notifier, fake_slack)
        assert "Daily digest — 2026-12-07" in text
    finally:
        await runtime.aclose()
