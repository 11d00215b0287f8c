"""App Home at the organisation's midnight (issue 15): its local date rolls over, ages move, Home is republished.

The refresher's clock (and the requests') is injected and moved by the test; the organisation is
in Auckland, whose day ends eleven or thirteen hours before UTC's, so a Home still counting
against UTC's date would show the old ages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime, Seams
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Organisation
from tests.harness.home import AGING, built_runtime, open_home, owed_invoice, republished, section_after
from tests.harness.slack import ALICE, TODAY, settings_with

settings = settings_with(INVOICEBOT_TIMEZONE="Pacific/Auckland")


class MovableClock:
    """The refresher's and the requests' clock: read at each call, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))  # read when the test runs


@pytest.fixture
async def runtime(settings: Settings, org: Organisation, clock: MovableClock) -> AsyncIterator[Runtime]:
    built = built_runtime(settings, Seams(now=clock))  # no pinned day: the organisation's local date
    yield built
    await built.aclose()


async def test_the_organisations_midnight_republishes_home_with_the_new_ages(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    runtime: Runtime,
    clock: MovableClock,
):
    # 10:59 UTC is 23:59 in Auckland (UTC+13 in November): its day ends long before UTC's.
    clock.at = datetime(TODAY.year, TODAY.month, TODAY.day, 10, 59, tzinfo=UTC)
    await owed_invoice(session, org, due_days_ago=0)
    before = await open_home(slack, fake_slack, ALICE)
    assert section_after(before, AGING)[0] == "*€120.00* owed — current: €120.00 (1)"
    assert runtime.home_viewers is not None and await runtime.home_viewers.publish_due() == 0

    clock.at += timedelta(minutes=2)  # 00:01 the next day in Auckland, still the same day in UTC

    after = await republished(runtime, fake_slack)
    assert section_after(after, AGING)[0] == "*€120.00* owed — 1–30: €120.00 (1)"
    assert await runtime.home_viewers.publish_due() == 0  # once per new day
