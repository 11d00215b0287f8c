"""The loop that keeps the emails as sent only as long as the retention says (issue 15, item 6).

`INVOICEBOT_SENT_EMAIL_RETENTION_DAYS` (400 by default; 0 keeps them forever) is applied by every
worker process once an hour, so nobody has to remember a cron job; `invoicebot emails purge
--as-of` does the same by hand. Deleting what is past the retention is idempotent, so N workers
purging at once only repeat each other's empty deletes. A failing purge is retried next hour and
shown on /healthz after the stall window, like every loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import Heartbeat, run_rounds
from services.clock import utcnow
from services.sending.sent_messages import purge_sent_messages

log = logging.getLogger("invoicebot.email_retention")

PURGE_EVERY_SECONDS = 3600.0


@dataclass
class EmailRetention:
    sessions: async_sessionmaker[AsyncSession]
    retention_days: int
    heartbeat: Heartbeat
    every: float = PURGE_EVERY_SECONDS
    clock: Callable[[], datetime] = utcnow

    async def run(self, stop: asyncio.Event) -> None:
        """Purge, then wait `every` seconds or until `stop` is set (a failed purge deleted nothing)."""
        due = "purging the emails past their retention"
        await run_rounds(stop, self.round, heartbeat=self.heartbeat, every=self.every, due=due, logger=log)

    async def round(self) -> bool:
        purged = await purge_sent_messages(self.sessions, as_of=self.clock(), retention_days=self.retention_days)
        if purged.messages or purged.blobs or purged.files:
            log.info(
                "purged %s emails as sent, %s unused blobs and %s extra attachments",
                purged.messages, purged.blobs, purged.files,
            )  # fmt: skip
        return bool(purged.messages or purged.blobs or purged.files)
