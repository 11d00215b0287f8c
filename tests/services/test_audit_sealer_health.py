"""The audit sealer reports to the loop health /healthz reads: a failing streak is red after the stall
window and logged once, its recovery logged once and green again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit_sealer import run_audit_sealer
from bot.loop_health import LoopHealth
from services.db.engine import create_engine, session_factory
from services.db.models import AuditLog, Organisation, utcnow


@pytest.fixture
async def broken(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database with no schema: every sealing round fails."""
    engine = create_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")
    yield session_factory(engine)
    await engine.dispose()


async def _sealed(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).where(AuditLog.chain_index.is_not(None))) or 0)


async def test_a_failing_sealer_turns_its_loop_red_logs_the_streak_once_and_its_recovery_once(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    org: Organisation,
    broken: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = {"organisation_id": org.id, "actor": "U1", "action": "invoice.paid", "subject_type": "invoice"}
    await session.execute(
        insert(AuditLog.__table__), [{**entry, "subject_id": 1, "detail": {}, "created_at": utcnow()}]
    )
    await session.commit()
    current = [broken]

    def opener() -> AbstractAsyncContextManager[AsyncSession]:
        return current[0]()

    health = LoopHealth(stall_after=0.3)
    heartbeat = health.loop("audit sealer", reports_each_round=True)
    stop = asyncio.Event()
    caplog.set_level(logging.INFO)
    loop = asyncio.create_task(run_audit_sealer(opener, stop, heartbeat, every=0.02))
    try:
        async with asyncio.timeout(10):
            while heartbeat.failures < 5 or not health.problems():
                await asyncio.sleep(0.02)
        [problem] = health.problems()
        assert problem.startswith("audit sealer: no progress for ")
        assert "unsealed audit entries are due: audit entries not sealed: " in problem
        failed = [r for r in caplog.records if r.name == "invoicebot.audit_sealer"]
        assert len(failed) == 1 and failed[0].levelno == logging.ERROR and failed[0].exc_info  # once, with traceback

        current[0] = sessions  # the database is back
        async with asyncio.timeout(10):
            while await _sealed(sessions) < 1 or health.problems():
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=10)

    assert health.problems() == [] and heartbeat.failures == 0
    recovered = [r.getMessage() for r in caplog.records if r.name == "invoicebot.health"]
    assert len(recovered) == 1 and recovered[0].startswith("audit sealer: working again after ")
    assert len([r for r in caplog.records if r.name == "invoicebot.audit_sealer"]) == 1
