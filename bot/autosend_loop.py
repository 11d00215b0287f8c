"""The loop that autosends: every minute, each organisation's autosend round (services/sending/autosend.py).

Runs beside each worker (`run`, `worker`), as many as there are: every invoice's autosend has
one idempotency key, so N processes evaluating the same minute ask for each email once. Each
round is built from the organisation as it is now (its approval rules, sender domain, whether
sending is paused), read per round so an admin's change applies at the next minute. It
reports to its heartbeat each round, so a stuck or failing loop turns `/healthz` red.
`invoicebot autosend run --as-of` runs one round at another moment (bot/cli_schedule.py).
Each round first posts the send window's preview where one is due (services/reminders/preview.py):
what leaves at the next opening, reminders included, until the reminders loop calls it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import Heartbeat, run_rounds
from bot.organisation_settings import OrganisationDirectory
from services.clock import utcnow
from services.db.models import Organisation
from services.reminders.preview import preview_organisations, preview_round
from services.sending.autosend import AutosendRound, autosend_organisations, run_autosend
from services.sending.context import ScheduledAsk, SendContext
from services.unit_of_work import units_over

log = logging.getLogger("invoicebot.autosend")

EVALUATE_EVERY_SECONDS = 60.0


@dataclass
class Autosend:
    """Autosend's rounds for every organisation that has it on (for itself or for a customer)."""

    sessions: async_sessionmaker[AsyncSession]
    organisations: OrganisationDirectory
    verp_secret: bytes = field(repr=False)

    async def evaluate(self, moment: datetime) -> list[AutosendRound]:
        """Each organisation's round at `moment`, one transaction each (one failing leaves the others)."""
        async with self.sessions() as session:
            organisation_ids = await autosend_organisations(session)
            previewed = await preview_organisations(session)
        for organisation_id in previewed:  # first: the channel hears what goes out before it goes
            await preview_round(units_over(self.sessions), organisation_id=organisation_id, moment=moment)
        return [await self._round(organisation_id, moment) for organisation_id in organisation_ids]

    async def _round(self, organisation_id: int, moment: datetime) -> AutosendRound:
        ask = await scheduled_ask(self.sessions, self.organisations, organisation_id, moment, self.verp_secret)
        return await run_autosend(units_over(self.sessions), ask)


async def scheduled_ask(
    sessions: async_sessionmaker[AsyncSession],
    organisations: OrganisationDirectory,
    organisation_id: int,
    moment: datetime,
    verp_secret: bytes,
) -> ScheduledAsk:
    """How a scheduled round (autosend, reminders) sends for one organisation at `moment`: its rules,
    sender domain and sending state as they are now (an admin's change applies at the next round)."""
    async with sessions() as session:
        settings = await organisations.settings_of(session, organisation_id)
        organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None  # listed by the round a moment ago; organisations are never deleted
    return ScheduledAsk(
        organisation_id=organisation_id,
        send=SendContext(
            rules=settings.rules,
            message_id_domain=settings.message_id_domain,
            verp_secret=lambda: verp_secret,
            clock=lambda: moment,
        ),
        sending=settings.sending_state(organisation),
        public_url=settings.identity.public_url,
    )


def round_words(done: AutosendRound) -> list[str]:
    """One organisation's round in lines, for the log and the CLI."""
    where = f"organisation {done.organisation_id}"
    if done.stopped:
        return [f"{where}: nothing asked — {done.stopped}"]
    if not done.window_open:
        opening = done.next_opening.isoformat() if done.next_opening else "never"
        return [f"{where}: outside the send window; it opens next at {opening}"]
    lines = [f"{where}: queued {number}" for number in done.queued]
    lines += [f"{where}: approval asked for {number}" for number in done.awaiting_approval]
    lines += [f"{where}: skipped {item.invoice_number} — {'; '.join(item.reasons)}" for item in done.skipped]
    return lines or [f"{where}: nothing to autosend"]


@dataclass
class AutosendLoop:
    autosend: Autosend
    heartbeat: Heartbeat
    every: float = EVALUATE_EVERY_SECONDS
    clock: Callable[[], datetime] = utcnow

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate, then wait `every` seconds or until `stop` is set (a failed round asked for nothing)."""
        await run_rounds(stop, self.round, heartbeat=self.heartbeat, every=self.every, due="autosend", logger=log)

    async def round(self) -> bool:
        rounds = await self.autosend.evaluate(self.clock())
        asked = [done for done in rounds if done.queued or done.awaiting_approval]
        for done in rounds:  # the skipped come back each minute until a person fixes them: debug
            for line in round_words(done):
                log.log(logging.INFO if done in asked else logging.DEBUG, "autosend %s", line)
        return bool(asked)
