"""App Home follows changes that never reach Slack, and the organisation's midnight (issue 15).

A payment recorded by the real `invoicebot` console script (another process, with no refresher) or
a bank export imported the same way: the running process's refresher (bot/home_refresh.py) reads
the change in the database and the fake Slack receives a `views.publish` with the new balance.
Home is opened through the signed web app. The organisation's midnight: test_slack_app_home_midnight.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime, Seams
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import HomeChange, Organisation
from tests.harness.home import AGING, built_runtime, open_home, owed_invoice, republished, section_after
from tests.harness.slack import ALICE, TODAY, settings_with

settings = settings_with()


@pytest.fixture
async def runtime(settings: Settings, org: Organisation) -> AsyncIterator[Runtime]:
    built = built_runtime(settings, Seams(today=lambda: TODAY))
    yield built
    await built.aclose()


async def test_a_payment_recorded_by_the_cli_republishes_home_with_the_new_balance(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    runtime: Runtime,
    run: Callable[..., Any],
):
    await owed_invoice(session, org, due_days_ago=5)
    before = await open_home(slack, fake_slack, ALICE)
    assert section_after(before, AGING)[0] == "*€120.00* owed — 1–30: €120.00 (1)"
    assert runtime.home_viewers is not None and await runtime.home_viewers.publish_due() == 0

    paid = run("invoices", "paid", "INV-0001", "--amount", "20", "--date", TODAY.isoformat())
    assert paid.returncode == 0, paid.stderr

    after = await republished(runtime, fake_slack)
    assert section_after(after, AGING)[0] == "*€100.00* owed — 1–30: €100.00 (1)"
    assert await runtime.home_viewers.publish_due() == 0  # the change was read once
    assert await session.scalar(select(func.count()).select_from(HomeChange)) == 0


async def test_a_payments_import_republishes_home_with_the_new_balance(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    runtime: Runtime,
    run: Callable[..., Any],
    tmp_path: Path,
):
    await owed_invoice(session, org, due_days_ago=40)
    before = await open_home(slack, fake_slack, ALICE)
    assert section_after(before, AGING)[0] == "*€120.00* owed — 31–60: €120.00 (1)"
    bank = tmp_path / "bank.csv"
    bank.write_text(f"reference,amount,date\nINV-0001,120.00,{TODAY.isoformat()}\n", encoding="utf-8")

    imported = run("payments", "import", str(bank))
    assert imported.returncode == 0, imported.stderr

    after = await republished(runtime, fake_slack)
    assert section_after(after, AGING) == ["Nothing is overdue 🎉"]
