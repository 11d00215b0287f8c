"""The health of loops running in *other* processes: written by them, read by the web process.

Why through the database: `invoicebot worker` (the send worker as its own process, for
scaling out) serves no HTTP, so its `LoopHealth` used to be seen only in its log, and a
separate worker that stalled — or died — left every `/healthz` green. A `--health-port`
per worker would need a probe per worker and still say nothing when the worker is gone;
the database is already shared by every process, so:

- `HealthReporter` (run by `invoicebot worker` beside its loops) writes the process's loop
  verdicts every `interval` seconds — one small upsert, never per delivery — and deletes them
  when the process stops cleanly;
- `OtherProcesses` (web/fleet_health.py, given to the web app) reads them for `/healthz` and `/metrics`: a loop
  reported stalled is red with its own reason, and a process whose last report is older than
  the stall window is red too (it died, hangs, or cannot write to the database).

Report times are compared with the reading process's clock: keep the hosts' clocks in
sync (NTP), as the database's timestamps already assume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import LoopHealth
from services.db.models import utcnow
from services.errors import error_summary
from services.loop_reports import LoopReport, report_loops, retire_process
from web.fleet_health import DATABASE_ANSWER_SECONDS

log = logging.getLogger("invoicebot.health")


class HealthReporter:
    """Writes this process's loop verdicts to the database every `interval` seconds until stopped."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        health: LoopHealth,
        process: str,
        interval: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.health = health
        self.process = process
        self.interval = interval
        self.clock = clock
        self.reported = 0  # rounds written (tests, logs)
        self._failing = False

    async def report_once(self) -> None:
        now = self.clock()
        reports = [
            LoopReport(self.process, v.name, v.healthy, v.reason, v.seconds_since_progress, now)
            for v in self.health.verdicts()
        ]
        async with asyncio.timeout(max(self.interval, DATABASE_ANSWER_SECONDS)):
            await report_loops(self.sessions, reports)
        self.reported += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Report until `stop` is set, then withdraw the reports (a stopped process is not a stalled one).

        A failed write is logged once per streak: the reports simply grow old, and the web
        process turns red for that after the stall window — which is the truth.
        """
        try:
            while not stop.is_set():
                try:
                    await self.report_once()
                except Exception as exc:
                    if not self._failing:
                        log.warning("%s: could not report loop health (%s); retrying", self.process, error_summary(exc))
                    self._failing = True
                else:
                    if self._failing:
                        log.info("%s: reporting loop health again", self.process)
                    self._failing = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            await self._withdraw()

    async def _withdraw(self) -> None:
        try:
            async with asyncio.timeout(DATABASE_ANSWER_SECONDS):
                await retire_process(self.sessions, self.process)
        except Exception as exc:
            log.warning("%s: could not withdraw its loop reports (%s)", self.process, error_summary(exc))
