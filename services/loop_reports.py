"""The loops' heartbeats shared through the database, so one process can speak for another's health.

`invoicebot worker` serves no HTTP: without this, a stalled or dead separate worker would
leave every `/healthz` green. So each such process writes its loops' verdicts here every few
seconds (`publish_reports`, one small upsert per interval, never per delivery), and the web
process reads them (`read_reports`) for `/healthz` and `/metrics`. Deciding what a report
means (stalled, too old) is the reader's job (bot/loop_reports.py); this module only stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import LoopHeartbeat
from services.unit_of_work import SessionFactory

MAX_PROCESS_CHARS = 200
MAX_LOOP_CHARS = 100


@dataclass(frozen=True)
class LoopReport:
    """One loop's verdict as its process last reported it."""

    process: str
    loop: str
    healthy: bool
    reason: str | None
    seconds_since_progress: float
    reported_at: datetime


async def publish_reports(session: AsyncSession, reports: Sequence[LoopReport]) -> None:
    """Insert or replace each loop's row (keyed by process and loop); the caller commits."""
    if not reports:
        return
    rows = [
        {
            "process": report.process[:MAX_PROCESS_CHARS],
            "loop": report.loop[:MAX_LOOP_CHARS],
            "healthy": report.healthy,
            "reason": report.reason,
            "seconds_since_progress": report.seconds_since_progress,
            "reported_at": report.reported_at,
        }
        for report in reports
    ]
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = postgresql.insert(LoopHeartbeat) if dialect == "postgresql" else sqlite.insert(LoopHeartbeat)
    upsert = insert.on_conflict_do_update(
        index_elements=["process", "loop"],
        set_={
            "healthy": insert.excluded.healthy,
            "reason": insert.excluded.reason,
            "seconds_since_progress": insert.excluded.seconds_since_progress,
            "reported_at": insert.excluded.reported_at,
        },
    )
    await session.execute(upsert, rows)


async def read_reports(session: AsyncSession) -> list[LoopReport]:
    """Every stored report, by process then loop."""
    rows = await session.scalars(select(LoopHeartbeat).order_by(LoopHeartbeat.process, LoopHeartbeat.loop))
    return [
        LoopReport(
            process=row.process,
            loop=row.loop,
            healthy=row.healthy,
            reason=row.reason,
            seconds_since_progress=row.seconds_since_progress,
            reported_at=row.reported_at,
        )
        for row in rows
    ]


async def forget_process(session: AsyncSession, process: str) -> int:
    """Delete a process's reports (it stopped cleanly, or an operator retired it); the caller commits."""
    result = await session.execute(delete(LoopHeartbeat).where(LoopHeartbeat.process == process))
    return int(getattr(result, "rowcount", 0) or 0)


async def report_loops(sessions: SessionFactory, reports: Sequence[LoopReport]) -> None:
    """`publish_reports` in a transaction of its own, committed: a reporting process's one write per interval."""
    async with sessions() as session:
        await publish_reports(session, reports)
        await session.commit()


async def retire_process(sessions: SessionFactory, process: str) -> int:
    """`forget_process` in a transaction of its own, committed; how many reports were deleted."""
    async with sessions() as session:
        deleted = await forget_process(session, process)
        await session.commit()
    return deleted
