"""App Home as the team's dashboard, through the real web app, the real notifier and the fake Slack.

A signed `app_home_opened` publishes the person's view; a change that reaches Slack through the
notification loop (an approval asked, a decision, a bounce) republishes the views of that
organisation's people who opened App Home, each with what *they* may do. The tests assert the
view JSON the fake Slack received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, Runtime, Seams, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from handlers.ids import ActionId, CallbackId
from services.db.models import InvoiceStatus, Organisation, Payment, PaymentSource, Suppression
from tests import factories
from tests.harness.events import event, record, sent_delivery
from tests.harness.home import open_home, section_after
from tests.harness.modals import open_review, submit
from tests.harness.seeding import seed_invoice
from tests.harness.slack import ALICE, BOB, TODAY, settings_with

settings = settings_with(
    INVOICEBOT_APPROVAL_POLICY="always",
    INVOICEBOT_APPROVERS="U0BOB",
    INVOICEBOT_APPROVERS_CHANNEL="C0APPROVE",
    INVOICEBOT_NOTIFY_CHANNEL="C0NOTIFY",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
)


@pytest.fixture
async def runtime(settings: Settings, org: Organisation) -> AsyncIterator[Runtime]:
    """The web app and the notifier of one process, as `invoicebot run` builds them (no debounce wait)."""
    built = bootstrap(settings, loops=[Loop.NOTIFIER], seams=Seams(today=lambda: TODAY))
    assert built.home_viewers is not None
    built.home_viewers.min_interval = 0.0
    yield built
    await built.aclose()


async def after_posts(runtime: Runtime) -> int:
    """Pay the Slack posts owed, then republish the App Homes they changed; returns how many."""
    assert runtime.notifier is not None and runtime.home_viewers is not None
    for _ in range(5):
        if not await runtime.notifier.drain_once():
            break
    return await runtime.home_viewers.publish_due()


def buttons(view: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (block["block_id"], element["action_id"], element.get("value", ""))
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def test_an_approval_request_republishes_the_approvers_home_with_approve_and_reject(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, runtime: Runtime
):
    bob_before = await open_home(slack, fake_slack, BOB)
    alice_before = await open_home(slack, fake_slack, ALICE)
    assert section_after(bob_before, "Waiting for my approval") == ["Nothing waits for you ✅"]
    assert section_after(alice_before, "Waiting for my approval") == []  # Alice approves nothing

    await seed_invoice(session, org)
    await submit(slack, await open_review(slack, fake_slack, "INV-0001"), fake_slack=fake_slack)
    assert await after_posts(runtime) == 2  # both open App Homes of the organisation

    bob = fake_slack.home_views[BOB.id]
    waiting = section_after(bob, "Waiting for my approval")
    assert waiting[0].startswith("• *INV-0001* · Acme Corp · €1,440.60\nasked by <@U0ALICE>")
    [(block_id, approve, delivery_id), (_, reject, _)] = buttons(bob)
    assert (approve, reject) == (ActionId.APPROVE_DELIVERY, ActionId.REJECT_DELIVERY)
    assert section_after(fake_slack.home_views[ALICE.id], "Waiting for my approval") == []

    # Reject opens the one reject-reason modal; Approve decides right there, and Home follows.
    [element, reject_element] = next(b["elements"] for b in bob["blocks"] if b["type"] == "actions")
    opened = len(fake_slack.calls_to("views.open"))
    await slack.click(button_click(reject_element, block_id=block_id), user=BOB, response_url="")
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    modal = fake_slack.calls_to("views.open")[-1].args["view"]
    assert (modal["callback_id"], modal["private_metadata"]) == (CallbackId.REJECT, delivery_id)
    response = await slack.click(button_click(element, block_id=block_id), user=BOB, response_url="")
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: bool(fake_slack.messages.get("C0APPROVE")))
    for _ in range(50):  # the decision is made after the ack (bounded)
        if await after_posts(runtime):
            break
    bob = fake_slack.home_views[BOB.id]
    assert section_after(bob, "Waiting for my approval") == ["Nothing waits for you ✅"]
    assert section_after(bob, "Scheduled")[0] == "• *INV-0001* · Acme Corp · €1,440.60 — ⏳ queued"


async def test_a_bounce_republishes_needs_attention_for_everyone_who_opened_home(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, runtime: Runtime
):
    delivery = await sent_delivery(session, org, number="INV-0042")
    before = await open_home(slack, fake_slack, ALICE)
    assert section_after(before, "Needs attention") == ["Nothing needs a person ✅"]
    assert section_after(before, "Recently sent")[0].endswith("— 📨 accepted by the mail server")

    await record(session, event("bounced", verp_token=delivery.verp_token, bounce_kind="hard", status_code="5.1.1"))
    assert await after_posts(runtime) == 1
    assert await after_posts(runtime) == 0  # nothing changed since: no second publish

    read = section_after(fake_slack.home_views[ALICE.id], "Needs attention")
    assert read[0].split("\n") == [
        "• *INV-0042* · Acme Corp · €120.00 — ❌ bounced",
        "• 🚫 ap@acme.example is suppressed (hard bounce, 23 November 2026, 12:00 UTC)",
    ]


async def test_due_today_and_overdue_by_age_and_currency_and_and_n_more(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    ages = {"A": 0, "B": 5, "C": 45, "D": 75, "E": 200, "F": -3}  # F is not due yet
    for n, (name, days) in enumerate(ages.items(), start=1):
        due = TODAY - timedelta(days=days)
        invoice = await factories.invoice(session, org.id, acme, number=f"INV-{name}", due=due, amount=f"{n}00")
        invoice.status = InvoiceStatus.SENT  # total: n × 120.00 (20 % tax)
    usd = await factories.invoice(session, org.id, acme, number="INV-USD", due=TODAY - timedelta(days=10))
    usd.status, usd.currency = InvoiceStatus.SENT, "USD"
    await session.flush()
    session.add(
        Payment(organisation_id=org.id, invoice_id=usd.id, amount=Decimal("40.60"), paid_on=TODAY,
                source=PaymentSource.CLI, recorded_by="cli")
    )  # fmt: skip
    for n in range(7):
        session.add(Suppression(organisation_id=org.id, email=f"x{n}@acme.example", reason="hard_bounce"))
    await session.commit()

    home = await open_home(slack, fake_slack, ALICE)

    aging = section_after(home, "Due today and overdue")
    assert aging == [
        "*€1,800.00* owed — current: €120.00 (1) · 1–30: €240.00 (1) · 31–60: €360.00 (1) · "
        "61–90: €480.00 (1) · 90+: €600.00 (1)",
        "*US$79.40* owed — 1–30: US$79.40 (1)",
        "6 invoices due today or earlier and not fully paid",
    ]
    attention = section_after(home, "Needs attention")
    assert attention[0].count("is suppressed") == 5
    assert attention[1] == "and 2 more suppressed addresses"
    # no email failed, but the header must not say all is well above a list of suppressed addresses
    assert home["blocks"][1]["text"]["text"].split("\n")[1] == (
        "No email failed; what needs a look is under *Needs attention* below."
    )
    assert len(home["blocks"]) <= 100
