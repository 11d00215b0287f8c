"""The loop that checks e-invoices before anyone sends them (services.sending.ubl_checks).

Each round checks up to `batch` UBL documents that may be sent and have no verdict yet, in
one schematron child process, and stores the verdicts; the send worker then only looks
them up. A round that fails (the database locked, the schematron child crashed) is
reported to the heartbeat and tried again after a pause growing up to `max_backoff`: the
worker checks inline meanwhile, so nothing goes out unchecked while this loop is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import Heartbeat, LoopHealth
from services.db.models import utcnow
from services.errors import error_summary
from services.sending.ubl_checks import ValidationPass, validate_pending_documents

log = logging.getLogger("invoicebot.ubl_validator")


@dataclass(frozen=True, kw_only=True)
class ValidationRounds:
    """How the loop paces itself: at most `batch` documents a round, `poll_interval` seconds between
    rounds when nothing is waiting, pauses after failures doubling up to `max_backoff` seconds."""

    batch: int = 200
    poll_interval: float = 5.0
    max_backoff: float = 300.0


class UblValidator:
    """Runs `validate_pending_documents` in bounded rounds until stopped."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        public_url: str,
        rounds: ValidationRounds = ValidationRounds(),
        heartbeat: Heartbeat | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.public_url = public_url
        self.batch = rounds.batch
        self.poll_interval = rounds.poll_interval
        self.max_backoff = rounds.max_backoff
        self.heartbeat = heartbeat or LoopHealth().loop("ubl validation")
        self.clock = clock
        self.checked = 0
        self.seconds = 0.0
        self.next_delivery_id = 0  # the page of pending deliveries the next round reads

    async def run_once(self) -> ValidationPass:
        """One round: check what is waiting (at most `batch`), store the verdicts."""
        done = await validate_pending_documents(
            self.sessions,
            public_url=self.public_url,
            limit=self.batch,
            now=self.clock(),
            after_delivery_id=self.next_delivery_id,
        )
        self.next_delivery_id = done.next_delivery_id
        self.checked += done.checked
        self.seconds += done.seconds
        return done

    async def run(self, stop: asyncio.Event, *, max_rounds: int | None = None) -> None:
        """Rounds until `stop` is set (or `max_rounds` ran): a full batch goes on at once, else it waits."""
        failures = 0
        rounds = 0
        while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
            rounds += 1
            pause = self.poll_interval
            try:
                done = await self.run_once()
            except Exception as exc:
                failures += 1
                pause = min(self.max_backoff, self.poll_interval * 2**failures)
                if self.heartbeat.failed(f"e-invoices not checked: {error_summary(exc)}"):
                    log.exception("checking e-invoices failed; retrying in %.0f s", pause)
            else:
                failures = 0
                if done.checked:
                    self.heartbeat.progressed()
                    log.info("checked %d e-invoices (%d failed) in %.2f s", done.checked, done.failed, done.seconds)
                else:
                    self.heartbeat.idle()
                if done.checked >= self.batch or done.next_delivery_id:  # more may be waiting: go on at once
                    pause = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
