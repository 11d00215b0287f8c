"""Where a group commit's rounds are written: a sync `Connection` (cheap rounds) or an `AsyncSession`.

`GroupCommit` (services.db.group_commit) decides what goes into a round and who is told
what; a `RoundTarget` runs one round — `write(…, items)` in one transaction, committed
before it returns, rolled back if it raises — and owns the connection it runs on:

- `ConnectionRounds`: Core statements on a sync `Connection` through `services.db.rounds`
  (one thread hop per round on SQLite, one held connection on PostgreSQL, autocommit for
  single-statement rounds). For the send worker's writer, where a round every few
  milliseconds must cost little more than its statements.
- `SessionRounds`: an ORM `AsyncSession` per round, for writes already written against one
  (filing delivery events).

Both make a round wait at most `lock_timeout` seconds for another transaction's lock, then
fail with an error `transient_database_error` recognises.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.db.rounds import DEFAULT_LOCK_TIMEOUT, RoundRunner, limit_lock_wait, round_runner

I = TypeVar("I")  # noqa: E741 - an item, as in Generic[I, R]
R = TypeVar("R")
I_contra = TypeVar("I_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class RoundTarget(Protocol[I_contra, R_co]):
    async def commit(self, items: Sequence[I_contra]) -> Sequence[R_co]:
        """Write `items` in one transaction, committed before this returns; a result per item, in order."""
        ...

    async def aclose(self) -> None:
        """Let go of the connection; the next round opens one again."""
        ...


class ConnectionRounds(Generic[I, R]):
    """Rounds of `write(connection, items)` on one held connection (see services.db.rounds)."""

    def __init__(
        self,
        engine: AsyncEngine,
        write: Callable[[Connection, Sequence[I]], Sequence[R]],
        *,
        single_statement: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        """`single_statement`: every round runs exactly one statement, so it may commit by itself."""
        self.engine = engine
        self.write = write
        self.single_statement = single_statement
        self.lock_timeout = lock_timeout
        self._runner: RoundRunner | None = None  # opened by the first round, closed by aclose()

    async def commit(self, items: Sequence[I]) -> Sequence[R]:
        if self._runner is None:
            self._runner = round_runner(
                self.engine, single_statement=self.single_statement, lock_timeout=self.lock_timeout
            )
        write = self.write
        return await self._runner.run(lambda connection: write(connection, items))

    async def aclose(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.aclose()


class SessionRounds(Generic[I, R]):
    """Rounds of `await write(session, items)`, each in a fresh session, committed once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        write: Callable[[AsyncSession, Sequence[I]], Awaitable[Sequence[R]]],
        *,
        lock_timeout: float | None = None,
    ) -> None:
        """`lock_timeout`: None waits for locks as long as the database does."""
        self.sessions = sessions
        self.write = write
        self.lock_timeout = lock_timeout

    async def commit(self, items: Sequence[I]) -> Sequence[R]:
        async with self.sessions() as session:
            if self.lock_timeout is not None:
                await limit_lock_wait(session, self.lock_timeout)
            results = await self.write(session, items)
            await session.commit()
        return results

    async def aclose(self) -> None:
        """Nothing held between rounds: each has its own session."""
