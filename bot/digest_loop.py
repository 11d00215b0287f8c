"""The loop that posts the daily digest: evaluates the schedule every half minute (services/digest.py).

Runs in every worker process (`run`, `worker`), as many as there are: each evaluation claims
an organisation's day once (services/once_per_period.py), so N processes post one digest. It
reports to its heartbeat each round, so a stuck or failing loop turns `/healthz` red.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.loop_health import Heartbeat, run_rounds
from services.clock import utcnow
from services.digest import evaluate_digests
from services.unit_of_work import UnitsOfWork

log = logging.getLogger("invoicebot.digest")

EVALUATE_EVERY_SECONDS = 30.0  # hours are whole: a digest goes out within half a minute of its hour


@dataclass
class DigestLoop:
    units: UnitsOfWork
    heartbeat: Heartbeat
    every: float = EVALUATE_EVERY_SECONDS
    clock: Callable[[], datetime] = utcnow

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate, then wait `every` seconds or until `stop` is set (a failed round's claim is rolled back)."""
        await run_rounds(stop, self.round, heartbeat=self.heartbeat, every=self.every, due="daily digests", logger=log)

    async def round(self) -> bool:
        posted = await evaluate_digests(self.units, now=self.clock())
        for done in posted:
            late = " (late)" if done.late else ""
            log.info("daily digest %s owed for organisation %s%s", done.period, done.organisation_id, late)
        return bool(posted)
