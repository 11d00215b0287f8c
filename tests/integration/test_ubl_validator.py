"""The e-invoice validation loop keeps going through failures and reports them where /healthz reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from bot.loop_health import LoopHealth
from bot.ubl_validator import UblValidator, ValidationRounds
from services.db.engine import create_engine, session_factory
from services.db.models import DocumentValidation
from tests.harness.sending import IDENTITY, queue_delivery


async def test_a_round_that_fails_is_reported_and_the_loop_goes_on_to_the_next(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")  # no tables: every round fails
    health = LoopHealth(stall_after=0.0, clock=lambda: 0.0)
    validator = UblValidator(
        sessions=session_factory(engine),
        public_url=IDENTITY.public_url,
        rounds=ValidationRounds(poll_interval=0.01, max_backoff=0.02),
        heartbeat=health.loop("ubl validation"),
    )
    try:
        await asyncio.wait_for(validator.run(asyncio.Event(), max_rounds=3), timeout=30)
    finally:
        await engine.dispose()

    [problem] = health.problems()
    assert "e-invoices not checked" in problem and "no such table" in problem, problem


async def test_the_loop_checks_what_waits_in_batches_then_idles(session, sessions, org) -> None:
    for n in range(1, 4):
        await queue_delivery(session, org, number=f"INV-{n:04d}")
    health = LoopHealth()
    validator = UblValidator(
        sessions=sessions,
        public_url=IDENTITY.public_url,
        rounds=ValidationRounds(batch=2, poll_interval=0.01),
        heartbeat=health.loop("ubl validation"),
    )

    await asyncio.wait_for(validator.run(asyncio.Event(), max_rounds=3), timeout=60)

    assert validator.checked == 3  # two rounds of at most two, then nothing left
    assert health.problems() == []


async def test_a_queue_longer_than_a_page_is_walked_through_so_no_delivery_is_left_unchecked(
    session, sessions, org
) -> None:
    for n in range(1, 11):
        await queue_delivery(session, org, number=f"INV-{n:04d}")
    validator = UblValidator(
        sessions=sessions, public_url=IDENTITY.public_url, rounds=ValidationRounds(batch=1)
    )  # pages of 4 deliveries

    for _ in range(40):  # bounded
        done = await validator.run_once()
        if not done.checked and not done.next_delivery_id:
            break

    assert validator.checked == 10
    async with sessions() as check:
        assert await check.scalar(select(func.count()).select_from(DocumentValidation)) == 10
