"""Run a batch of writes — one function of a sync `Connection` — as one transaction, cheaply.

The send worker's writer commits a round of Core statements every few milliseconds. Under
aiosqlite every statement is four trips to the driver's thread and back (cursor, execute,
fetch, close), each waking the event loop; a round of twenty statements cost more than
the statements themselves, and every trip took a core from the render processes. So:

- **SQLite**: the round runs on a plain `sqlite3` connection in one thread of its own —
  one hop per round, whatever it holds. The thread may wait on SQLite's busy timeout
  without blocking the event loop.
- **PostgreSQL**: the round runs on the async connection through SQLAlchemy's `run_sync`
  (asyncpg has no thread to hop to).

Either way the function sees a sync `Connection`, so one implementation of each write
serves both. A round that raises is rolled back and its connection dropped (replaced at
the next round): a half-done round never leaks into the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.db.engine import sqlite_pragmas

T = TypeVar("T")


class RoundRunner(Protocol):
    async def run(self, write: Callable[[Connection], T]) -> T:
        """`write(connection)` in a transaction, committed before this returns; raises what it raised."""
        ...

    async def aclose(self) -> None: ...


class ThreadedSqliteRounds:
    """SQLite: one sync connection, used only from one dedicated thread."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_sync_engine(url)
        event.listen(self.engine, "connect", sqlite_pragmas)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="invoicebot-writer")
        self._connection: Connection | None = None

    def _in_thread(self, write: Callable[[Connection], T]) -> T:
        if self._connection is None:
            self._connection = self.engine.connect()
        connection = self._connection
        try:
            result = write(connection)
            connection.commit()
        except BaseException:
            self._connection = None
            with contextlib.suppress(Exception):
                connection.rollback()
            with contextlib.suppress(Exception):
                connection.close()
            raise
        return result

    async def run(self, write: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, write)

    def _close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                connection.close()
        self.engine.dispose()

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)


class AsyncConnectionRounds:
    """PostgreSQL (and anything without a file to open twice): one held async connection.

    `single_statement` rounds (each `write` runs exactly one statement) run in autocommit:
    the statement is its own transaction, one round trip instead of BEGIN, it, COMMIT.
    """

    def __init__(self, engine: AsyncEngine, *, single_statement: bool = False) -> None:
        self.engine = engine
        self.single_statement = single_statement
        self._connection: AsyncConnection | None = None

    async def run(self, write: Callable[[Connection], T]) -> T:
        if self._connection is None:
            connection = await self.engine.connect()
            if self.single_statement:
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            self._connection = connection
        connection = self._connection
        try:
            result = await connection.run_sync(write)
            await connection.commit()
        except BaseException:
            self._connection = None
            with contextlib.suppress(Exception):
                await connection.rollback()
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        return result

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await connection.close()


def round_runner(
    engine: AsyncEngine, *, single_statement: bool = False
) -> ThreadedSqliteRounds | AsyncConnectionRounds:
    """The cheapest way to run write rounds on `engine`'s database.

    `single_statement`: every round runs one statement, which may then commit by itself.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        sync_url = make_url(url.render_as_string(hide_password=False)).set(drivername="sqlite")
        return ThreadedSqliteRounds(sync_url.render_as_string(hide_password=False))
    return AsyncConnectionRounds(engine, single_statement=single_statement)
