"""The notifier through the real `slack_sdk` client against the fake Slack, with a clock that can jump ahead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.notifier import Notifier, PostRouting
from bot.sandbox.slack_api import FakeSlackApi
from services.db.models import Notification, utcnow
from tests.harness.slack import BOT_TOKEN, CHANNEL


@dataclass
class Clock:
    """Real time plus a jump forward, so retries become due without sleeping."""

    ahead: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.ahead


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def notifier(sessions: async_sessionmaker[AsyncSession], fake_slack: FakeSlackApi, clock: Clock) -> Notifier:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    return Notifier(sessions, client, PostRouting(default_channel=CHANNEL), clock=clock)


async def notifications_of(sessions: async_sessionmaker[AsyncSession], delivery_id: int) -> list[Notification]:
    async with sessions() as session:
        rows = await session.execute(
            select(Notification).where(Notification.delivery_id == delivery_id).order_by(Notification.id)
        )
        return list(rows.scalars())
