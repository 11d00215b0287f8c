"""The health of loops running in *other* processes, as the web process judges it.

The writing half is bot/loop_reports.py (`HealthReporter`, run beside a separate
`invoicebot worker`'s loops); this reading half lives with the surface that answers
`/healthz` and `/metrics`. A loop reported stalled is red with its own reason, and a process
whose last report is older than the stall window is red too (it died, hangs, or cannot write
to the database). Report times are compared with this process's clock: keep hosts on NTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import utcnow
from services.errors import error_summary
from services.loop_reports import LoopReport, read_reports

DATABASE_ANSWER_SECONDS = 2.0  # a probe must answer even when the database does not


@dataclass(frozen=True)
class ReportedLoop:
    """Another process's loop as `/healthz` and `/metrics` judge it now."""

    process: str
    loop: str
    healthy: bool
    seconds_since_progress: float
    report_age: float  # seconds since its process last reported
    reason: str | None


@dataclass(frozen=True)
class FleetVerdict:
    """What the other processes' reports say, or why they could not be read."""

    loops: list[ReportedLoop]
    problems: list[str]
    answered: bool


class OtherProcesses:
    """Reads the other processes' loop reports and judges them with this process's stall window."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        stall_after: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.stall_after = stall_after
        self.clock = clock

    async def verdict(self) -> FleetVerdict:
        try:
            async with asyncio.timeout(DATABASE_ANSWER_SECONDS), self.sessions() as session:
                reports = await read_reports(session)
        except Exception as exc:
            reason = (
                f"other processes' loops: their reports could not be read "
                f"(the database did not answer within {DATABASE_ANSWER_SECONDS:g} s: {error_summary(exc) or 'timeout'})"
            )
            return FleetVerdict([], [reason], answered=False)
        return judge_reports(reports, now=self.clock(), stall_after=self.stall_after)


def judge_reports(reports: list[LoopReport], *, now: datetime, stall_after: float) -> FleetVerdict:
    """A loop is red when reported stalled, or when its process's report is older than `stall_after`."""
    loops: list[ReportedLoop] = []
    problems: list[str] = []
    silent: dict[str, tuple[float, list[str]]] = {}
    for report in reports:
        age = max(0.0, (now - report.reported_at).total_seconds())
        quiet = report.seconds_since_progress + age
        if age >= stall_after:
            silent.setdefault(report.process, (age, []))[1].append(report.loop)
            loops.append(ReportedLoop(report.process, report.loop, False, quiet, age, "no recent report"))
            continue
        loops.append(ReportedLoop(report.process, report.loop, report.healthy, quiet, age, report.reason))
        if not report.healthy:
            problems.append(f"{report.process}: {report.reason or f'{report.loop}: stalled'}")
    for process, (age, names) in silent.items():
        problems.append(
            f"{process}: no report from its loops ({', '.join(names)}) for {age:.0f} s: "
            "the process stopped without withdrawing them, hangs, or cannot write to the database"
        )
    return FleetVerdict(loops, problems, answered=True)
