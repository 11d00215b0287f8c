"""App Home across processes: opened through one process, republished by another's notifier.

Process A is the web app serving Slack's requests (no notifier); process B is a lone worker with
the notifier (no Slack app: no signing secret), as production runs them over one database. Who
has App Home is in the database, so B republishes the person A served, with what B reads at
publish time: the organisation's current settings (an approver removed by an admin in between)
and B's day. And a silent email (accepted, then no news) is in *Needs attention* and `/invoices problems`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, Runtime, Seams, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import HomeViewer, InvoiceStatus, Organisation, OrganisationSettingsRow
from services.tracking.silent import Route, SilentCheck, owe_silent_alerts
from tests import factories
from tests.harness.events import event, record, sent_delivery
from tests.harness.home import open_home, section_after
from tests.harness.modals import open_review, submit
from tests.harness.reading import texts
from tests.harness.seeding import seed_invoice
from tests.harness.slack import ALICE, BOB, TODAY, settings_with

settings = settings_with(
    INVOICEBOT_APPROVAL_POLICY="always",
    INVOICEBOT_APPROVERS="U0BOB",
    INVOICEBOT_APPROVERS_CHANNEL="C0APPROVE",
    INVOICEBOT_NOTIFY_CHANNEL="C0NOTIFY",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
)
B_TODAY = TODAY + timedelta(days=35)  # B's refresh runs on a later day than A's request


@pytest.fixture
async def worker_b(settings: Settings, runtime: Runtime) -> AsyncIterator[Runtime]:
    """Process B: a lone worker with the notifier over the same database, serving no Slack requests."""
    lone = settings.model_copy(update={"slack_signing_secret": None})
    built = bootstrap(lone, loops=[Loop.NOTIFIER], seams=Seams(today=lambda: B_TODAY))
    assert built.slack_app is None and built.notifier is not None and built.home_viewers is not None
    built.home_viewers.min_interval = 0.0
    yield built
    await built.aclose()


async def posts_by(process: Runtime) -> int:
    """Process `process` pays the Slack posts owed, then republishes the App Homes they changed."""
    assert process.notifier is not None and process.home_viewers is not None
    for _ in range(5):
        if not await process.notifier.drain_once():
            break
    return await process.home_viewers.publish_due()


async def test_a_home_opened_through_a_is_republished_by_bs_notifier_as_the_organisation_is_now(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    runtime: Runtime,
    worker_b: Runtime,
):
    assert runtime.notifier is None  # A posts nothing: only B can republish
    acme = await factories.customer(session, org.id, ref="C-DUE")
    owed = await factories.invoice(session, org.id, acme, number="INV-DUE", due=TODAY)
    owed.status = InvoiceStatus.SENT
    await session.commit()
    bob = await open_home(slack, fake_slack, BOB)  # served by A, on A's day
    assert section_after(bob, "Waiting for my approval") == ["Nothing waits for you ✅"]
    assert section_after(bob, "Due today and overdue")[0] == "*€120.00* owed — current: €120.00 (1)"
    assert (await session.execute(select(HomeViewer.organisation_id, HomeViewer.user_id))).all() == [(org.id, BOB.id)]

    await seed_invoice(session, org)
    await submit(slack, await open_review(slack, fake_slack, "INV-0001"), fake_slack=fake_slack)  # through A
    published = len(fake_slack.calls_to("views.publish"))
    assert await posts_by(worker_b) == 1
    assert len(fake_slack.calls_to("views.publish")) == published + 1
    bob = fake_slack.home_views[BOB.id]
    assert section_after(bob, "Waiting for my approval")[0].startswith("• *INV-0001* · Acme Corp · €1,440.60")
    aging = section_after(bob, "Due today and overdue")[0]  # on B's day, 35 days later: INV-DUE is 31–60 days late
    assert "31–60: €" in aging and "current:" not in aging

    # An admin removes Bob from the approvers (any process); B's next refresh follows it.
    await session.refresh(org)  # A adopted it (version 1) since this session read it
    row = await session.get(OrganisationSettingsRow, org.id)
    assert row is not None
    row.approvers = ["U0CAROL"]
    org.settings_version += 1  # as an admin's change does
    await session.commit()
    delivery = await sent_delivery(session, org, number="INV-0042")
    await record(session, event("bounced", verp_token=delivery.verp_token, bounce_kind="hard", status_code="5.1.1"))
    assert await posts_by(worker_b) == 1
    bob = fake_slack.home_views[BOB.id]
    assert section_after(bob, "Waiting for my approval") == []  # no longer an approver: no section
    assert section_after(bob, "Needs attention")[0].startswith("• *INV-0042* · Acme Corp · €120.00 — ❌ bounced")


async def test_a_viewer_who_opened_home_long_ago_is_not_republished(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    runtime: Runtime,
    worker_b: Runtime,
):
    await open_home(slack, fake_slack, ALICE)
    await open_home(slack, fake_slack, BOB)
    alice = await session.get(HomeViewer, (org.id, ALICE.id))
    assert alice is not None
    alice.opened_at -= timedelta(days=31)  # past the 30-day window
    await session.commit()
    delivery = await sent_delivery(session, org, number="INV-0042")
    published = len(fake_slack.calls_to("views.publish"))

    await record(session, event("bounced", verp_token=delivery.verp_token, bounce_kind="hard", status_code="5.1.1"))

    assert await posts_by(worker_b) == 1
    [call] = fake_slack.calls_to("views.publish")[published:]
    assert call.args["user_id"] == BOB.id


async def test_a_silent_email_needs_attention(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, runtime: Runtime
):
    before = await open_home(slack, fake_slack, ALICE)  # also creates the settings row: 72 h for own SMTP
    assert section_after(before, "Needs attention") == ["Nothing needs a person ✅"]
    delivery = await sent_delivery(session, org, number="INV-0077")
    assert delivery.finished_at is not None
    check = SilentCheck(as_of=delivery.finished_at + timedelta(hours=73), route=Route.SMTP)
    assert len(await owe_silent_alerts(runtime.sessions, check)) == 1

    home = await open_home(slack, fake_slack, ALICE)

    assert section_after(home, "Needs attention") == [
        "• *INV-0077* · Acme Corp · €120.00 — 🔕 accepted, then no news: check it arrived"
    ]
    assert "*1* email needs a person" in section_after(home, "invoicebot")[0]
    problems = (await slack.command("problems", user=ALICE, response_url=fake_slack.response_url())).json()
    [_, line] = texts(problems["blocks"])  # `/invoices problems`: the same rule, the same words
    assert line.startswith("*INV-0077* · Acme Corp · €120.00\nTo ap@acme.example · 🔕 accepted, then no news")
