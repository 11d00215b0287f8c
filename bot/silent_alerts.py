"""The loop that owes silent-email alerts (services/tracking/silent.py) every few seconds.

Runs beside the worker in every worker process (`run`, `worker`); any number may run it, since
each delivery's alert is owed once by a conditional UPDATE in the alert's own transaction. A
round is bounded (`SilentCheck.limit` deliveries; a full round goes on at once) and reports to
its heartbeat, so a failing streak turns /healthz red and is logged once, with its recovery.
`invoicebot alerts silent --as-of …` runs one evaluation for another moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.config import Settings
from bot.loop_health import Heartbeat
from services.clock import utcnow
from services.errors import error_summary
from services.tracking.silent import BATCH, Route, SessionOpener, SilentCheck, owe_silent_alerts

log = logging.getLogger("invoicebot.silent_alerts")

CHECK_EVERY_SECONDS = 15.0  # well under the stall window: the loop reports each round
MAX_BACKOFF_SECONDS = 600.0


@dataclass(frozen=True, kw_only=True)
class SilentRoute:
    """How this installation's emails leave (bootstrap decides it from the settings)."""

    route: Route
    relay: str | None = None


def silent_route(settings: Settings) -> SilentRoute:
    """A configured provider webhook means the relay is that provider (it confirms delivery); else our own SMTP."""
    provider = (
        (settings.postmark_webhook_user and settings.postmark_webhook_password is not None)
        or settings.sendgrid_webhook_public_key
        or settings.mailgun_signing_key is not None
        or settings.ses_topic_arns
    )
    return SilentRoute(route=Route.PROVIDER if provider else Route.SMTP, relay=settings.smtp_host or None)


@dataclass
class SilentAlerts:
    sessions: SessionOpener
    route: SilentRoute
    heartbeat: Heartbeat
    every: float = CHECK_EVERY_SECONDS
    batch: int = BATCH
    clock: Callable[[], datetime] = utcnow

    async def run_once(self, as_of: datetime | None = None) -> int:
        """One evaluation at `as_of` (default: now): how many alerts it owed."""
        check = SilentCheck(
            as_of=as_of or self.clock(), route=self.route.route, relay=self.route.relay, limit=self.batch
        )
        return len(await owe_silent_alerts(self.sessions, check))

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until `stop` is set; a failed round backs off and is logged once per streak."""
        while not stop.is_set():
            pause = self.every
            try:
                owed = await self.run_once()
            except Exception as exc:  # a round that fails is retried; the loop never ends on it
                first = self.heartbeat.failed(f"silent emails not checked: {error_summary(exc)}")
                pause = min(MAX_BACKOFF_SECONDS, self.every * 2 ** min(self.heartbeat.failures, 10))
                if first:
                    log.exception("checking for silent emails failed; retrying in %.0f s", pause)
            else:
                if owed:
                    self.heartbeat.progressed()
                    log.info("owed %d silent-email alert(s)", owed)
                else:
                    self.heartbeat.idle()
                if owed >= self.batch:
                    pause = 0.0  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
