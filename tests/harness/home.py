"""Reading App Home as a person does: open it through the real web app, read a section; a process's refresher."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, Runtime, Seams, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef
from services.db.models import InvoiceStatus, Organisation
from tests import factories
from tests.harness.reading import texts
from tests.harness.slack import ALICE, TODAY

AGING = "Due today and overdue"


async def open_home(slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef) -> dict[str, Any]:
    published = len(fake_slack.calls_to("views.publish"))
    response = await slack.event({"type": "app_home_opened", "user": user.id, "tab": "home"})
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.publish")) > published)
    return fake_slack.home_views[user.id]


def section_after(view: dict[str, Any], heading: str) -> list[str]:
    """What a person reads under `heading`, up to the next heading."""
    read: list[str] = []
    inside = False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == heading
            continue
        if inside:
            read.extend(texts([block]))
    return read


def built_runtime(settings: Settings, seams: Seams) -> Runtime:
    """The web app and the notifier (with its App Home refresher) of one process, as `invoicebot run` builds them."""
    built = bootstrap(settings, loops=[Loop.NOTIFIER], seams=seams)
    assert built.home_viewers is not None
    built.home_viewers.min_interval = 0.0  # no debounce wait, and every call asks the database
    built.home_viewers.poll_every = 0.0
    return built


async def owed_invoice(session: AsyncSession, org: Organisation, *, due_days_ago: int) -> None:
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(
        session, org.id, acme, number="INV-0001", due=TODAY - timedelta(days=due_days_ago), amount="100"
    )
    invoice.status = InvoiceStatus.SENT  # €120.00 with 20 % tax
    await session.commit()


async def republished(runtime: Runtime, fake_slack: FakeSlackApi) -> dict[str, Any]:
    assert runtime.home_viewers is not None
    before = len(fake_slack.calls_to("views.publish"))
    assert await runtime.home_viewers.publish_due() == 1
    assert len(fake_slack.calls_to("views.publish")) == before + 1
    return fake_slack.home_views[ALICE.id]
