"""The webhook replay store: one token or event id, one meaning, for the signature window."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import WebhookReceipt, utcnow
from services.tracking.webhooks import WebhookAuthError
from services.tracking.webhooks.freshness import Receipt
from services.tracking.webhooks.replay import RECEIPT_LIFETIME, ReplayGuard


async def test_two_concurrent_requests_with_one_token_and_different_data_admit_exactly_one(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
):
    guard, now = ReplayGuard(sessions), utcnow()
    first, second = Receipt.of("token", "t-1", b"delivered"), Receipt.of("token", "t-1", b"complained")

    outcomes = await asyncio.gather(
        guard.admit("Mailgun", [first], now=now), guard.admit("Mailgun", [second], now=now), return_exceptions=True
    )

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["NoneType", "WebhookAuthError"]
    digests = (await session.execute(select(WebhookReceipt.digest))).scalars().all()
    assert len(digests) == 1


async def test_the_same_receipt_again_is_admitted_and_stored_once(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
):
    guard, now = ReplayGuard(sessions), utcnow()
    receipt = Receipt.of("event", "e-1", b"{}")

    await guard.admit("SendGrid", [receipt], now=now)
    await guard.admit("SendGrid", [receipt, receipt], now=now + timedelta(minutes=1))

    rows = (await session.execute(select(WebhookReceipt))).scalars().all()
    assert [(row.provider, row.expires_at) for row in rows] == [("SendGrid", now + RECEIPT_LIFETIME)]


async def test_one_batch_naming_an_event_twice_with_different_data_is_refused(
    sessions: async_sessionmaker[AsyncSession],
):
    with pytest.raises(WebhookAuthError):
        await ReplayGuard(sessions).admit(
            "SendGrid", [Receipt.of("event", "e-1", b"a"), Receipt.of("event", "e-1", b"b")], now=utcnow()
        )


async def test_a_token_is_free_again_once_its_receipt_expired(sessions: async_sessionmaker[AsyncSession]):
    guard, now = ReplayGuard(sessions), utcnow()
    await guard.admit("Mailgun", [Receipt.of("token", "t", b"a")], now=now)

    # Past the window the signature itself is stale (check_fresh refuses it); the row is purged.
    await guard.admit("Mailgun", [Receipt.of("token", "t", b"b")], now=now + RECEIPT_LIFETIME + timedelta(seconds=1))
