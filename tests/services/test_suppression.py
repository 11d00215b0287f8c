"""The suppression list: soft-bounce threshold, resets, lifting by admins only, and what readiness sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import ApprovalRules
from services.db.models import AuditLog, Organisation
from services.errors import NotAllowed, NotFound
from services.sending.due import suppressed_addresses
from services.tracking.suppression import (
    SOFT_BOUNCE_LIMIT,
    AddressEvent,
    count_soft_bounce,
    lift_suppression,
    list_suppressions,
    reset_soft_bounces,
    suppress_address,
)

RULES_FOR_TEST = ApprovalRules(admins=frozenset({"U-ADMIN"}))

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ADDRESS = "busy@acme.example"


async def soft_bounce(session: AsyncSession, org: Organisation, at: datetime, address: str = ADDRESS) -> None:
    await count_soft_bounce(
        session, organisation_id=org.id, email=address, detail="mailbox full", actor="events:dsn", now=at
    )
    await session.commit()


async def is_suppressed(session: AsyncSession, org: Organisation, address: str = ADDRESS) -> bool:
    found = await suppressed_addresses(session, organisation_id=org.id, emails={address})
    return address.lower() in found


async def test_third_soft_bounce_within_thirty_days_suppresses(session: AsyncSession, org: Organisation) -> None:
    for day in range(SOFT_BOUNCE_LIMIT - 1):
        await soft_bounce(session, org, NOW + timedelta(days=day * 10))
        assert not await is_suppressed(session, org)

    await soft_bounce(session, org, NOW + timedelta(days=25))

    assert await is_suppressed(session, org)
    [entry] = await list_suppressions(session, organisation_id=org.id)
    assert (entry.email, entry.reason, entry.active) == (ADDRESS, "soft_bounces", True)


async def test_soft_bounces_spread_over_more_than_thirty_days_do_not_suppress(
    session: AsyncSession, org: Organisation
) -> None:
    for day in (0, 20, 35, 50):
        await soft_bounce(session, org, NOW + timedelta(days=day))

    assert not await is_suppressed(session, org)


async def test_a_delivery_resets_the_soft_bounce_count(session: AsyncSession, org: Organisation) -> None:
    await soft_bounce(session, org, NOW)
    await soft_bounce(session, org, NOW + timedelta(days=1))
    await reset_soft_bounces(session, organisation_id=org.id, email=ADDRESS.upper(), now=NOW)
    await session.commit()

    await soft_bounce(session, org, NOW + timedelta(days=2))

    assert not await is_suppressed(session, org)
    assert await list_suppressions(session, organisation_id=org.id) == []


async def test_only_an_admin_lifts_a_suppression_and_it_is_audited(session: AsyncSession, org: Organisation) -> None:
    await suppress_address(
        session,
        organisation_id=org.id,
        now=NOW,
        event=AddressEvent(email="Gone@Acme.example", kind="hard_bounce", detail="5.1.1", actor="events:dsn"),
    )
    await session.commit()

    with pytest.raises(NotAllowed, match="only admins can"):
        await lift_suppression(
            session, organisation_id=org.id, email="gone@acme.example", actor="U-CLERK", rules=RULES_FOR_TEST, now=NOW
        )
    assert await is_suppressed(session, org, "gone@acme.example")

    await lift_suppression(
        session, organisation_id=org.id, email="gone@acme.example", actor="U-ADMIN", rules=RULES_FOR_TEST, now=NOW
    )
    await session.commit()

    assert not await is_suppressed(session, org, "gone@acme.example")
    audit = (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars().all()
    assert [(a.actor, a.action, a.detail["email"]) for a in audit] == [
        ("events:dsn", "suppression.added", "gone@acme.example"),
        ("U-ADMIN", "suppression.lifted", "gone@acme.example"),
    ]
    [lifted] = await list_suppressions(session, organisation_id=org.id, include_lifted=True)
    assert (lifted.active, lifted.lifted_by) == (False, "U-ADMIN")


async def test_lifting_an_address_that_is_not_suppressed_says_so(session: AsyncSession, org: Organisation) -> None:
    with pytest.raises(NotFound, match="is not on the suppression list"):
        await lift_suppression(
            session, organisation_id=org.id, email="ok@acme.example", actor="U-ADMIN", rules=RULES_FOR_TEST, now=NOW
        )


async def test_suppressing_twice_keeps_the_first_reason(session: AsyncSession, org: Organisation) -> None:
    for reason in ("hard_bounce", "complaint"):
        await suppress_address(
            session,
            organisation_id=org.id,
            now=NOW,
            event=AddressEvent(email=ADDRESS, kind=reason, detail=None, actor="events:dsn"),
        )
        await session.commit()

    [entry] = await list_suppressions(session, organisation_id=org.id)
    assert entry.reason == "hard_bounce"
