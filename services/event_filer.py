"""Group commit for delivery events arriving on many concurrent requests.

Providers post webhooks one event at a time (Mailgun, Postmark) or in small batches, and
often many at once. Filing each request in its own transaction costs a handful of
statements per event; `EventFiler` instead files whatever requests are waiting in one
`record_delivery_events` batch and one commit, then answers each request with its own
results. A request still returns only after its events are committed, so a provider
never gets a 200 for an event that could be lost.

If a shared batch fails, each waiting request is filed again on its own, so one bad
request cannot fail the others (and its own error reaches its own caller).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.delivery_events import IncomingEvent, RecordedEvent, record_delivery_events


@dataclass
class _Waiting:
    events: Sequence[IncomingEvent]
    now: datetime
    result: asyncio.Future[list[RecordedEvent]]


class EventFiler:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, verp_secret: bytes, max_batch: int = 500) -> None:
        self.sessions = sessions
        self.verp_secret = verp_secret
        self.max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None

    async def file(self, events: Sequence[IncomingEvent], *, now: datetime) -> list[RecordedEvent]:
        """File `events` (committed when this returns), sharing a transaction with other callers."""
        if not events:
            return []
        waiting = _Waiting(events, now, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await waiting.result

    async def _drain(self) -> None:
        while self._waiting:
            batch: list[_Waiting] = []
            size = 0
            while self._waiting and (not batch or size + len(self._waiting[0].events) <= self.max_batch):
                item = self._waiting.pop(0)
                batch.append(item)
                size += len(item.events)
            await self._file_batch(batch)

    async def _file_batch(self, batch: list[_Waiting]) -> None:
        try:
            async with self.sessions() as session:
                recorded = await record_delivery_events(
                    session,
                    events=[event for item in batch for event in item.events],
                    now=max(item.now for item in batch),
                    verp_secret=self.verp_secret,
                )
                await session.commit()
        except Exception as error:  # handed to the caller(s) below, never swallowed
            if len(batch) == 1:
                if not batch[0].result.done():
                    batch[0].result.set_exception(error)
                return
            for item in batch:  # one at a time, so only the request at fault fails
                await self._file_batch([item])
            return
        start = 0
        for item in batch:
            end = start + len(item.events)
            if not item.result.done():
                item.result.set_result(recorded[start:end])
            start = end
