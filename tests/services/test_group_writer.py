"""The send worker's writer: each answer means committed, on SQLite (threaded rounds) and PostgreSQL (lanes).

Every check reads the rows back through a fresh session — what another worker, the
notifier or stale recovery would see — not the writer's own connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from services.db.engine import engine_of
from services.db.models import Delivery, DeliveryStatus, Invoice, InvoiceStatus, Notification, Organisation, utcnow
from services.sending.outcomes import Outcome, RetryPolicy, record_outcomes
from services.sending.writer import GroupWriter
from services.tracking.event_types import IncomingEvent
from services.tracking.events import record_delivery_event
from tests import factories

SECRET = b"writer-test-secret"


WriterFactory = Callable[..., GroupWriter]


@pytest.fixture
async def writers(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[WriterFactory]:
    """`writers(worker_id="w1")` makes a writer on the test's database; all are closed after the test."""
    made: list[GroupWriter] = []

    def make(worker_id: str = "w1") -> GroupWriter:
        made.append(GroupWriter(engine=engine_of(sessions), worker_id=worker_id, retry=RetryPolicy(), now=utcnow))
        return made[-1]

    yield make
    for writer in made:
        await writer.aclose()


async def queue(session: AsyncSession, org: Organisation, count: int) -> list[int]:
    return [
        (await factories.queued_delivery(session, org.id, verp_secret=SECRET, number=f"INV-{n:04d}")).id
        for n in range(count)
    ]


async def test_a_claim_is_committed_when_it_returns_and_a_second_writer_gets_the_rest(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    ids = await queue(session, org, 3)
    first, second = writers("w1"), writers("w2")
    mine = await first.claim(2)
    theirs = await second.claim(5)

    assert mine == ids[:2] and theirs == ids[2:]
    rows = [await factories.reload_delivery(sessions, d) for d in ids]
    assert [(r.status, r.claimed_by) for r in rows] == [
        (DeliveryStatus.SENDING, "w1"),
        (DeliveryStatus.SENDING, "w1"),
        (DeliveryStatus.SENDING, "w2"),
    ]


async def test_a_claim_loads_what_it_claimed_inside_its_own_transaction(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    [delivery_id] = await queue(session, org, 1)
    writer = writers()

    def load(sync: Session, ids: list[int]) -> list[tuple[int, str, str | None]]:
        rows = sync.execute(select(Delivery.id, Delivery.status, Delivery.claimed_by).where(Delivery.id.in_(ids)))
        return [(row.id, row.status, row.claimed_by) for row in rows]

    loaded = await writer.claim(5, then=load)

    assert loaded == [(delivery_id, DeliveryStatus.SENDING, "w1")]  # sees its own claim, uncommitted until then


async def test_a_loader_that_fails_claims_nothing(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    [delivery_id] = await queue(session, org, 1)
    writer = writers()

    def broken(_sync: Session, _ids: list[int]) -> Any:
        raise RuntimeError("the loader broke")

    with pytest.raises(RuntimeError, match="the loader broke"):
        await writer.claim(5, then=broken)
    again = await writer.claim(5)  # the writer's connection survived the failed round

    assert again == [delivery_id]


async def test_a_data_start_mark_is_committed_before_it_returns(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    ids = await queue(session, org, 4)
    writer = writers()
    assert await writer.claim(4) == ids
    await asyncio.gather(*(writer.mark_data_started(d) for d in ids))
    marked = [(await factories.reload_delivery(sessions, d)).data_started_at for d in ids]

    assert all(at is not None for at in marked)


async def test_a_mark_for_a_delivery_another_worker_holds_changes_nothing(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    [delivery_id] = await queue(session, org, 1)
    owner, stranger = writers("owner"), writers("stranger")
    await owner.claim(1)
    await stranger.mark_data_started(delivery_id)

    assert (await factories.reload_delivery(sessions, delivery_id)).data_started_at is None


async def test_outcomes_recorded_together_each_commit_their_delivery_invoice_and_notification(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    ids = await queue(session, org, 3)
    writer = writers()
    await writer.claim(3)
    statuses = await asyncio.gather(
        writer.record(ids[0], Outcome("accepted", "250 2.0.0 queued as A1", accepted=("ap@acme.example",))),
        writer.record(ids[1], Outcome("transient", "451 4.3.0 try later")),
        writer.record(ids[2], Outcome("permanent", "550 5.1.1 no such user")),
    )

    assert list(statuses) == [DeliveryStatus.ACCEPTED, DeliveryStatus.DEFERRED, DeliveryStatus.FAILED]
    rows = [await factories.reload_delivery(sessions, d) for d in ids]
    assert [r.status for r in rows] == list(statuses)
    assert rows[0].smtp_reply == "250 2.0.0 queued as A1" and rows[2].last_error == "550 5.1.1 no such user"
    async with sessions() as fresh:
        invoice_states = dict((await fresh.execute(select(Invoice.id, Invoice.status))).all())
        posts = await fresh.scalar(select(func.count()).select_from(Notification))
    assert invoice_states[rows[0].invoice_id] == InvoiceStatus.SENT
    assert invoice_states[rows[1].invoice_id] == InvoiceStatus.VALIDATED
    assert posts is not None and posts >= 3  # a status post for each, plus the failure's alert


async def test_the_writer_opens_again_after_it_was_closed(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    ids = await queue(session, org, 2)
    writer = writers()
    assert await writer.claim(1) == ids[:1]
    await writer.aclose()
    assert await writer.claim(1) == ids[1:]


@pytest.mark.parametrize(
    ("bounce_kind", "shown"), [("hard", DeliveryStatus.BOUNCED), ("soft", DeliveryStatus.DEFERRED)]
)
async def test_a_bounce_filed_while_the_send_was_in_flight_survives_the_acceptance(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    writers: WriterFactory,
    org: Organisation,
    bounce_kind: str,
    shown: DeliveryStatus,
) -> None:
    """A fast relay's bounce report can be filed before the worker commits the SMTP reply."""
    delivery = await factories.queued_delivery(session, org.id, verp_secret=SECRET)
    writer = writers()
    await writer.claim(1)
    bounce = IncomingEvent(
        source="dsn",
        type="bounced",
        recipient="ap@acme.example",
        occurred_at=utcnow(),
        source_event_id=f"dsn-{bounce_kind}",
        raw="(the report)",
        bounce_kind=bounce_kind,
        status_code="5.1.1" if bounce_kind == "hard" else "4.2.2",
        verp_token=delivery.verp_token,
    )
    async with sessions() as filing:
        await record_delivery_event(filing, event=bounce, now=utcnow(), verp_secret=SECRET)
        await filing.commit()
    status = await writer.record(
        delivery.id, Outcome("accepted", "250 2.0.0 queued as B7", accepted=("ap@acme.example",))
    )
    again = await writer.claim(5)

    row = await factories.reload_delivery(sessions, delivery.id)
    assert status == shown and row.status == shown
    assert row.recipient_results["ap@acme.example"]["status"] == ("bounced" if bounce_kind == "hard" else "deferred")
    assert row.smtp_reply == "250 2.0.0 queued as B7"  # the server's reply is kept all the same
    assert row.next_attempt_at is None and again == []  # handed over: never sent again by the worker
    async with sessions() as fresh:
        invoice_status = await fresh.scalar(select(Invoice.status).where(Invoice.id == row.invoice_id))
        posts = (
            await fresh.execute(
                select(Notification.kind, Notification.payload).where(Notification.delivery_id == row.id)
            )
        ).all()
    # a hard bounce already filed: the invoice was not received, so it is not marked sent (still owed)
    assert invoice_status == (InvoiceStatus.VALIDATED if bounce_kind == "hard" else InvoiceStatus.SENT)
    alerts = [payload for kind, payload in posts if kind == "delivery_alert"]
    assert len(alerts) == 1 and alerts[0]["recipient"] == "ap@acme.example"  # the bounce's own, not a second one
    assert {"status": str(shown)} in [payload for kind, payload in posts if kind == "delivery_status"]


async def test_many_outcomes_of_one_kind_are_written_by_one_statement_together(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    """The group path itself, not its one-by-one fallback: several deliveries moving to the same
    status go through one executemany UPDATE (its `status IN (…)` cannot be an expanding list)."""
    ids = await queue(session, org, 3)
    await writers().claim(3)

    def record_together(sync: Session) -> dict[int, str | None]:
        accepted = [(d, Outcome("accepted", f"250 ok {d}", accepted=("ap@acme.example",))) for d in ids[:2]]
        failed = [(ids[2], Outcome("permanent", "550 5.1.1 no such user"))]
        written = record_outcomes(
            sync.connection(), outcomes=accepted + failed, worker_id="w1", now=utcnow(), retry=RetryPolicy()
        )
        sync.commit()
        return written

    async with sessions() as writing:
        written = await writing.run_sync(record_together)

    assert written == {ids[0]: "accepted", ids[1]: "accepted", ids[2]: "failed"}
    rows = [await factories.reload_delivery(sessions, d) for d in ids]
    assert [(r.status, r.smtp_reply) for r in rows[:2]] == [
        (DeliveryStatus.ACCEPTED, f"250 ok {ids[0]}"),
        (DeliveryStatus.ACCEPTED, f"250 ok {ids[1]}"),
    ]
    assert rows[2].status == DeliveryStatus.FAILED


async def test_accepted_invoices_are_marked_sent_by_invoicing_in_one_statement_and_a_paid_one_stays_paid(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], writers: WriterFactory, org: Organisation
) -> None:
    """The worker's "sent by email" is invoicing's move (services.invoicing.emailed.emails_accepted),
    its WHERE from the invoice transition table: validated → sent, one executemany for the group,
    and an invoice paid by hand while its email was in flight is not pulled back to sent."""
    ids = await queue(session, org, 3)
    await writers().claim(3)
    paid_number = "INV-0002"
    paid = (await session.execute(select(Invoice).where(Invoice.number == paid_number))).scalar_one()
    paid.status = InvoiceStatus.PAID
    await session.commit()
    invoice_updates: list[bool] = []  # executemany flag of each UPDATE of invoices

    def count(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE INVOICES"):
            invoice_updates.append(executemany)

    def record(sync: Session) -> dict[int, str | None]:
        connection = sync.connection()
        event.listen(connection, "before_cursor_execute", count)
        accepted = [(d, Outcome("accepted", f"250 ok {d}", accepted=("ap@acme.example",))) for d in ids]
        written = record_outcomes(connection, outcomes=accepted, worker_id="w1", now=utcnow(), retry=RetryPolicy())
        sync.commit()
        return written

    async with sessions() as writing:
        assert await writing.run_sync(record) == dict.fromkeys(ids, "accepted")

    assert invoice_updates == [True]
    async with sessions() as reading:
        rows = (await reading.execute(select(Invoice).order_by(Invoice.number))).scalars().all()
    assert [(r.number, r.status, r.sent_via, r.sent_by) for r in rows] == [
        ("INV-0000", InvoiceStatus.SENT, "email", "U_ALICE"),
        ("INV-0001", InvoiceStatus.SENT, "email", "U_ALICE"),
        (paid_number, InvoiceStatus.PAID, None, None),
    ]
