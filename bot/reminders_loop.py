"""The loop that reminds: every minute, each organisation's reminders produced, then dispatched.

Runs beside each worker (`run`, `worker`), as many as there are, like the autosend loop
(bot/autosend_loop.py). A round per organisation: `produce_announced` writes the reminders due
(each invoice and step once, caught up after an outage and said so once in the channel), then
the send window's preview is posted when one is due (services/reminders/preview.py), then
`run_dispatch` turns the queued ones into reminder emails inside the send window (each once:
services/reminders/dispatch.py). Producing happens at any hour, dispatching only in the window,
so a reminder produced on a Saturday goes out on Monday morning. The organisation's rules are
read per round, so an admin's change applies at the next minute. `INVOICEBOT_REMINDER_MAX_LATENESS_DAYS`
is read once, at bootstrap. `invoicebot reminders run --as-of` runs one round (bot/cli_reminders.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.autosend_loop import scheduled_ask
from bot.loop_health import Heartbeat, run_rounds
from bot.organisation_settings import OrganisationDirectory
from services.clock import utcnow
from services.reminders.catch_up import produce_announced, reminder_organisations
from services.reminders.dispatch import DispatchedReminder, DispatchRound, run_dispatch
from services.reminders.plan import DEFAULT_MAX_LATENESS_DAYS
from services.reminders.preview import preview_round
from services.reminders.produce import Produced
from services.unit_of_work import units_over

log = logging.getLogger("invoicebot.reminders")

EVALUATE_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class ReminderRound:
    """One organisation's minute: what was produced, and what was dispatched."""

    produced: Produced
    dispatched: DispatchRound


@dataclass
class Reminders:
    """Producing and dispatching reminders for every organisation they may concern."""

    sessions: async_sessionmaker[AsyncSession]
    organisations: OrganisationDirectory
    verp_secret: bytes = field(repr=False)
    max_lateness_days: int = DEFAULT_MAX_LATENESS_DAYS

    async def evaluate(self, moment: datetime, organisation_ids: list[int] | None = None) -> list[ReminderRound]:
        """Each organisation's round at `moment`, one transaction for producing and one for dispatching."""
        if organisation_ids is None:
            async with self.sessions() as session:
                organisation_ids = await reminder_organisations(session)
        return [await self._round(organisation_id, moment) for organisation_id in organisation_ids]

    async def _round(self, organisation_id: int, moment: datetime) -> ReminderRound:
        units = units_over(self.sessions)
        produced = await produce_announced(
            units, organisation_id=organisation_id, moment=moment, max_lateness_days=self.max_lateness_days
        )
        # the channel hears what goes out before it goes (once per opening; the autosend loop asks too)
        await preview_round(units, organisation_id=organisation_id, moment=moment)
        ask = await scheduled_ask(self.sessions, self.organisations, organisation_id, moment, self.verp_secret)
        return ReminderRound(produced, await run_dispatch(units, ask))


def _named(item: DispatchedReminder) -> str:
    return f"{item.customer_name} step {item.step_offset:+d} days ({', '.join(item.numbers)})"


def dispatch_words(done: DispatchRound) -> list[str]:
    """One organisation's dispatch in lines, for the log and the CLI."""
    where = f"organisation {done.organisation_id}"
    if done.stopped:
        return [f"{where}: no reminder sent — {done.stopped}"]
    if not done.window_open:
        opening = done.next_opening.isoformat() if done.next_opening else "never"
        return [f"{where}: outside the send window; it opens next at {opening}"]
    lines = [f"{where}: queued the reminder to {_named(item)}" for item in done.queued]
    lines += [f"{where}: approval asked for the reminder to {_named(item)}" for item in done.awaiting_approval]
    lines += [f"{where}: skipped the reminder to {_named(item)} — {item.reason}" for item in done.not_sent]
    lines += [f"{where}: closed the reminder to {item.customer_name}: nothing owed any more" for item in done.settled]
    return lines or [f"{where}: no reminder to send"]


@dataclass
class RemindersLoop:
    reminders: Reminders
    heartbeat: Heartbeat
    every: float = EVALUATE_EVERY_SECONDS
    clock: Callable[[], datetime] = utcnow

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate, then wait `every` seconds or until `stop` is set (a failed round is retried next minute)."""
        await run_rounds(stop, self.round, heartbeat=self.heartbeat, every=self.every, due="reminders", logger=log)

    async def round(self) -> bool:
        rounds = await self.reminders.evaluate(self.clock())
        worked = False
        for done in rounds:
            acted = done.produced.produced or done.dispatched.queued or done.dispatched.awaiting_approval
            worked = worked or bool(acted or done.dispatched.not_sent)
            for line in dispatch_words(done.dispatched):
                log.log(logging.INFO if acted else logging.DEBUG, "reminders %s", line)
        return worked
