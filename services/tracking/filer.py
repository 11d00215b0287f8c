"""Group commit for delivery events arriving on many concurrent requests.

Providers post webhooks one event at a time (Mailgun, Postmark) or in small batches, and
often many at once. Filing each request in its own transaction costs a handful of
statements per event; `EventFiler` instead files whatever requests are waiting in one
`record_delivery_events` batch and one commit, then answers each request with its own
results. A request still returns only after its events are committed, so a provider
never gets a 200 for an event that could be lost.

Batching and failure isolation are `services.db.group_commit`'s: one bad request fails
alone (its own error reaches its own caller) and the others are filed; a database that
cannot write now fails the waiting requests, and the providers retry them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.group_commit import GroupCommit
from services.db.group_rounds import SessionRounds
from services.tracking.event_types import IncomingEvent
from services.tracking.events import RecordedEvent, record_delivery_events


@dataclass(frozen=True, slots=True)
class _Request:
    events: Sequence[IncomingEvent]
    now: datetime


class EventFiler:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, verp_secret: bytes, max_batch: int = 500) -> None:
        """`max_batch`: events per transaction at most (a bigger request is filed alone)."""
        self.sessions = sessions
        self.verp_secret = verp_secret
        self.max_batch = max_batch
        rounds: SessionRounds[_Request, list[RecordedEvent]] = SessionRounds(sessions, self._write)
        self._commits = GroupCommit(
            rounds, max_round=max_batch, size=lambda request: len(request.events), name="event filer"
        )

    async def file(self, events: Sequence[IncomingEvent], *, now: datetime) -> list[RecordedEvent]:
        """File `events` (committed when this returns), sharing a transaction with other callers."""
        if not events:
            return []
        return await self._commits.submit(_Request(events, now))

    async def _write(self, session: AsyncSession, requests: Sequence[_Request]) -> list[list[RecordedEvent]]:
        recorded = await record_delivery_events(
            session,
            events=[event for request in requests for event in request.events],
            now=max(request.now for request in requests),
            verp_secret=self.verp_secret,
        )
        answers: list[list[RecordedEvent]] = []
        start = 0
        for request in requests:
            answers.append(recorded[start : start + len(request.events)])
            start += len(request.events)
        return answers
