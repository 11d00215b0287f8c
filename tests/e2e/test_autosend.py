"""Autosend: validated invoices go out on their issue date without a click, inside the send window,
each once, through the same rules as a person's send (approval included); the real services, the
real worker and notifier, an SMTP server and the fake Slack on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.autosend_loop import Autosend
from bot.bootstrap import Runtime
from bot.notifier import Notifier
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.db.models import (
    Approval,
    Customer,
    Delivery,
    DocumentKind,
    Invoice,
    Organisation,
    OrganisationSettingsRow,
)
from services.email.smtp import SmtpTransport
from tests import factories
from tests.harness.reading import channel_messages, texts
from tests.harness.sending import SECRET, make_worker
from tests.harness.slack import NOTIFYING, settings_with

settings = settings_with(**NOTIFYING, INVOICEBOT_APPROVERS="U0BOB")

MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # inside Mon-Fri 09:00-17:00 (UTC)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


async def seed(session: AsyncSession, org: Organisation, *, organisation_on: bool) -> None:
    """Acme follows the organisation; Globex said no; Initech said yes. One validated invoice each."""
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex", emails=("ap@globex.example",))
    initech = await factories.customer(session, org.id, ref="INITECH", name="Initech", emails=("ap@initech.example",))
    for customer, number in ((acme, "A-1"), (globex, "G-1"), (initech, "I-1")):
        await factories.invoice(session, org.id, customer, number=number)
    await session.execute(update(Customer).where(Customer.id == globex.id).values(autosend=False))
    await session.execute(update(Customer).where(Customer.id == initech.id).values(autosend=True))
    await session.execute(update(OrganisationSettingsRow).values(autosend=organisation_on))
    await session.commit()


def autosend_of(runtime: Runtime) -> Autosend:
    return Autosend(runtime.sessions, runtime.organisations, verp_secret=SECRET)


async def sends(session: AsyncSession) -> list[tuple[str, str, str]]:
    rows = await session.execute(select(Delivery.to, Delivery.status, Delivery.requested_by).order_by(Delivery.id))
    return [(", ".join(to), status, by) for to, status, by in rows.all()]


async def test_autosend_sends_each_opted_in_invoice_once_and_the_customer_receives_it(
    runtime: Runtime,
    session: AsyncSession,
    org: Organisation,
    sessions: async_sessionmaker[AsyncSession],
    smtp: ScriptedSmtpServer,
    transport: SmtpTransport,
    notifier: Notifier,
    fake_slack: FakeSlackApi,
):
    await runtime.organisation_id()  # the settings row seeded, as at a first start
    await seed(session, org, organisation_on=True)
    autosend = autosend_of(runtime)

    first, second = await asyncio.gather(autosend.evaluate(MONDAY_MORNING), autosend.evaluate(MONDAY_MORNING))
    again = await autosend.evaluate(MONDAY_MORNING)

    assert sorted(first[0].queued + second[0].queued) == ["A-1", "I-1"]  # each asked by one of the two rounds
    assert again[0].queued == () and again[0].skipped == ()
    assert await sends(session) == [
        ("ap@acme.example", "queued", "autosend"),
        ("ap@initech.example", "queued", "autosend"),
    ]  # Globex said no; nothing twice
    assert await make_worker(sessions, transport).drain() == 2
    received = sorted((item.message["To"], item.message["Subject"]) for item in smtp.received)
    assert [to for to, _ in received] == ["ap@acme.example", "ap@initech.example"]
    assert all(subject and subject.startswith("Invoice") for _, subject in received), received
    await notifier.drain_once()
    posted = [texts(message.blocks) for message in channel_messages(fake_slack)]
    assert any("Requested by Autosend" in line for blocks in posted for line in blocks), posted
    notes = [blocks[0] for blocks in posted if blocks and blocks[0].startswith("🤖 Autosend is sending")]
    assert sorted(number for note in notes for number in ("A-1", "I-1") if f"*{number}*" in note) == ["A-1", "I-1"]


async def test_outside_the_send_window_nothing_goes_and_the_next_opening_is_named(
    runtime: Runtime, session: AsyncSession, org: Organisation
):
    await runtime.organisation_id()
    await seed(session, org, organisation_on=True)

    [closed] = await autosend_of(runtime).evaluate(SATURDAY)

    assert not closed.window_open
    assert closed.next_opening == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00, the default window
    assert await sends(session) == []


async def test_an_autosend_that_needs_approval_asks_an_approver_instead_of_sending(
    runtime: Runtime, session: AsyncSession, org: Organisation
):
    await runtime.organisation_id()
    await seed(session, org, organisation_on=False)  # only Initech autosends
    await session.execute(update(OrganisationSettingsRow).values(approval_policy="always"))
    # as an admin's change does: the version tells every process's cached settings to read again
    await session.execute(update(Organisation).values(settings_version=Organisation.settings_version + 1))
    await session.commit()

    [done] = await autosend_of(runtime).evaluate(MONDAY_MORNING)

    assert (done.queued, done.awaiting_approval) == ((), ("I-1",))
    assert await sends(session) == [("ap@initech.example", "awaiting_approval", "autosend")]
    [approval] = (await session.execute(select(Approval))).scalars().all()
    assert approval.requested_by == "autosend"


async def test_an_invoice_that_cannot_go_is_skipped_with_its_reason_and_named_once_a_day(
    runtime: Runtime, session: AsyncSession, org: Organisation, notifier: Notifier, fake_slack: FakeSlackApi
):
    await runtime.organisation_id()
    await seed(session, org, organisation_on=True)
    await session.execute(update(Customer).where(Customer.ref == "ACME").values(emails=[]))
    await session.commit()
    autosend = autosend_of(runtime)

    [done] = await autosend.evaluate(MONDAY_MORNING)
    for minute in range(1, 4):  # the next minutes: A-1 still cannot go
        [later] = await autosend.evaluate(MONDAY_MORNING + timedelta(minutes=minute))
        assert later.queued == () and [item.invoice_number for item in later.skipped] == ["A-1"]
    [next_day] = await autosend.evaluate(MONDAY_MORNING + timedelta(days=1))

    assert done.queued == ("I-1",)
    assert [item.invoice_number for item in done.skipped] == ["A-1"]
    assert await sends(session) == [("ap@initech.example", "queued", "autosend")]
    assert [item.invoice_number for item in next_day.skipped] == ["A-1"]
    await notifier.drain_once()
    notes = [texts(message.blocks) for message in channel_messages(fake_slack) if "Autosend" in message.text]
    assert len(notes) == 2  # the first round's (I-1 sent, A-1 left), then one the next day: not one a minute
    assert notes[0][0] == "🤖 Autosend is sending 1 invoice: *I-1*"
    assert notes[0][1].startswith("✋ *Autosend could not send 1 invoice* — a person must:\n• *A-1* — ")
    assert notes[1][0].startswith("✋ *Autosend could not send 1 invoice*")


def test_a_customer_is_turned_on_off_or_back_to_the_default_from_the_command_line(run, database_url: str):
    assert run("seed").returncode == 0
    assert run("autosend", "run").stdout == "autosend is off for every organisation and customer\n"
    turned = run("autosend", "customer", "ACME", "on")
    assert turned.returncode == 0, turned.stderr
    wrong = run("autosend", "customer", "ACME", "sometimes")
    assert wrong.returncode == 2
    assert "'sometimes' is not a choice: say on, off or default" in wrong.stderr + wrong.stdout
    unknown = run("autosend", "customer", "NOBODY", "off")
    assert unknown.returncode == 1
    assert "There is no customer with the reference 'NOBODY'." in unknown.stderr + unknown.stdout
    saturday = run("autosend", "run", "--as-of", "2026-11-28T10:00")
    assert saturday.stdout.endswith(": outside the send window; it opens next at 2026-11-30T09:00:00+00:00\n")
    assert run("autosend", "customer", "ACME", "default").returncode == 0
    assert "Acme" in turned.stdout and "on" in turned.stdout


async def test_autosend_covers_credit_notes_they_go_out_as_credit_notes(
    runtime: Runtime,
    session: AsyncSession,
    org: Organisation,
    sessions: async_sessionmaker[AsyncSession],
    smtp: ScriptedSmtpServer,
    transport: SmtpTransport,
):
    await runtime.organisation_id()
    initech = await factories.customer(session, org.id, ref="INITECH", name="Initech", emails=("ap@initech.example",))
    invoice = await factories.invoice(session, org.id, initech, number="I-1")
    await factories.invoice(session, org.id, initech, number="CN-1", amount="20.00")
    await session.execute(
        update(Invoice)
        .where(Invoice.number == "CN-1")
        .values(kind=DocumentKind.CREDIT_NOTE, corrects_invoice_id=invoice.id)
    )
    await session.execute(update(Invoice).where(Invoice.number == "I-1").values(sent_at=MONDAY_MORNING))
    await session.execute(update(Customer).where(Customer.id == initech.id).values(autosend=True))
    await session.commit()

    [done] = await autosend_of(runtime).evaluate(MONDAY_MORNING)

    assert done.queued == ("CN-1",)  # I-1 went out already; its credit note goes by itself
    assert await make_worker(sessions, transport).drain() == 1
    [received] = smtp.received
    assert received.message["Subject"].startswith("Credit note CN-1"), received.message["Subject"]
