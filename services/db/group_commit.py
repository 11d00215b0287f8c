"""Group commit: many concurrent callers, one transaction per round, each caller its own answer.

Small writes arrive from many tasks at once (a worker's claims, data-start marks and
outcomes; webhook requests carrying delivery events). A commit each costs more than the
writes themselves, so `GroupCommit` queues them, applies whatever is waiting as one round
(one transaction, committed once) and answers every caller with its own result. Nobody
is answered before the transaction holding their write committed.

Batching. A round holds at most `max_round` units (`size(item)` each; an item bigger than
that goes alone). An item submitted with `linger=True` can wait: it waits up to `linger`
seconds, or until `linger_batch` lingering items are queued, for company; it also rides
along with any earlier round once it is ripe. Other items go at once, first in the round.

Failure isolation — one rule, here only. When a round of several items fails, it is rolled
back (never half-applied) and we decide whose failure it is:
- an error in the data (a constraint, a bug in one item: not `is_round_failure`) is one
  item's: the round is split in halves and each half committed as a round of its own, so
  the others commit and only the item at fault gets its error;
- "the database cannot write now" (locked past the lock timeout, disk full, connection
  lost: `transient_database_error`) is the round's — unless it was only too much at once
  (a nearly full disk refuses big rounds): the first item is tried alone, once. If it
  fails the same way, every item of the round gets the error at once (retrying them one
  by one would wait out the lock once per item) and each caller decides when to try
  again; if it commits, the rest go on as a round of their own under the same rule.

A caller that stops waiting (cancelled) before its item is taken into a round writes
nothing; once taken, the item may still commit. `aclose` finishes what is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from services.db.group_rounds import RoundTarget
from services.db.rounds import transient_database_error

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 - an item, as in Generic[I, R]
R = TypeVar("R")


class GroupCommit(Generic[I, R]):
    """Queue items from many tasks; one task commits them in rounds on `target`."""

    # Six keyword-only knobs with defaults, each caller passing its own few: a tuning dataclass would only move them.
    def __init__(  # noqa: PLR0913
        self,
        target: RoundTarget[I, R],
        *,
        max_round: int,
        linger: float = 0.0,
        linger_batch: int = 1,
        size: Callable[[I], int] | None = None,
        is_round_failure: Callable[[BaseException], bool] = transient_database_error,
        name: str = "group commit",
    ) -> None:
        self.target = target
        self.max_round = max_round
        self.linger = linger
        self.linger_batch = linger_batch
        self.size = size
        self.is_round_failure = is_round_failure
        self.name = name
        self.rounds = 0  # transactions tried, isolation retries included
        self._now: deque[tuple[I, asyncio.Future[R]]] = deque()
        self._lingering: deque[tuple[I, asyncio.Future[R]]] = deque()
        self._lingering_since = 0.0  # loop time the oldest lingering item began to wait
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_round: list[tuple[I, asyncio.Future[R]]] = []  # taken, not yet answered

    async def submit(self, item: I, *, linger: bool = False) -> R:
        """Return `item`'s result once the round holding it committed; raise its round's error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if linger:
            if not self._lingering:
                self._lingering_since = loop.time()
            self._lingering.append((item, future))
        else:
            self._now.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        self._wake.set()
        return await future

    async def aclose(self) -> None:
        """Commit what is queued, then let go of the target's connection (reopened on demand)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.target.aclose()

    async def _run(self) -> None:
        """Commit rounds while there is work; ends when idle (restarted by the next submit)."""
        loop = asyncio.get_running_loop()
        try:
            while self._now or self._lingering:
                self._wake.clear()
                ripe = self._ripe(loop.time())
                if not self._now and not ripe:
                    remaining = self._lingering_since + self.linger - loop.time()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), max(0.0, remaining))
                    continue
                batch = self._take(with_lingering=ripe)
                if ripe and self._lingering:  # left over beyond max_round: they start a new wait
                    self._lingering_since = loop.time()
                if batch:
                    self._in_round = batch
                    await self._commit(batch)
                    self._in_round = []
                await asyncio.sleep(0)  # let the callers woken by this round queue their next items
        except BaseException as exc:  # cancelled (shutdown): nobody waits for ever
            for _, future in (*self._in_round, *self._now, *self._lingering):
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            self._in_round = []
            self._now.clear()
            self._lingering.clear()
            raise

    def _ripe(self, now: float) -> bool:
        return bool(self._lingering) and (
            len(self._lingering) >= self.linger_batch or now - self._lingering_since >= self.linger
        )

    def _take(self, *, with_lingering: bool) -> list[tuple[I, asyncio.Future[R]]]:
        """Up to `max_round` units, in order, items that go at once first; cancelled callers dropped."""
        batch: list[tuple[I, asyncio.Future[R]]] = []
        room = self.max_round
        for queue in (self._now, self._lingering) if with_lingering else (self._now,):
            while queue:
                item, future = queue[0]
                if future.done():  # its caller stopped waiting: write nothing for it
                    queue.popleft()
                    continue
                units = 1 if self.size is None else self.size(item)
                if batch and units > room:
                    return batch
                queue.popleft()
                batch.append((item, future))
                room -= units
        return batch

    async def _commit(self, batch: Sequence[tuple[I, asyncio.Future[R]]]) -> None:
        self.rounds += 1
        try:
            results = await self.target.commit([item for item, _ in batch])
        except Exception as exc:
            await self._isolate(batch, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _isolate(self, batch: Sequence[tuple[I, asyncio.Future[R]]], exc: Exception) -> None:
        """The failure rule of the module docstring, applied to a round that failed with `exc`."""
        if len(batch) == 1:
            _fail(batch, exc)
            return
        if not self.is_round_failure(exc):
            log.warning(
                "%s: a round of %s items failed; isolating the item at fault", self.name, len(batch), exc_info=True
            )
            middle = len(batch) // 2
            await self._commit(batch[:middle])
            await self._commit(batch[middle:])
            return
        first, rest = batch[:1], batch[1:]
        self.rounds += 1
        try:
            [result] = await self.target.commit([first[0][0]])
        except Exception as again:
            if self.is_round_failure(again):  # the database's, not the round's size: everyone waits
                _fail(batch, again)
                return
            _fail(first, again)
        else:
            if not first[0][1].done():
                first[0][1].set_result(result)
        await self._commit(rest)


def _fail(batch: Sequence[tuple[object, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
