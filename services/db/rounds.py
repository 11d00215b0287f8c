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

A round waits at most `lock_timeout` seconds for another transaction's lock (SQLite's busy
timeout, PostgreSQL's `lock_timeout`) and then fails with an error `transient_database_error`
recognises, so the caller backs off and tries again instead of hanging behind the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, TextClause, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from services.db.engine import sqlite_pragmas

T = TypeVar("T")

DEFAULT_LOCK_TIMEOUT = 10.0  # seconds; SQLite's busy timeout everywhere else is the same

# PostgreSQL SQLSTATE classes and codes that say "not now" rather than "never": connection
# exceptions, serialization failure / deadlock, insufficient resources (disk full), lock not
# available, operator intervention (cancelled, shutting down), system errors.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")
_TRANSIENT_SQLSTATES = ("55P03",)


def transient_database_error(exc: BaseException) -> bool:
    """True when the database could not do it *now* (locked, full, unreachable), so the same
    write may succeed later; False for an error in the write itself (a constraint, bad data)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OSError | TimeoutError) or isinstance(getattr(exc, "orig", None), OSError | TimeoutError):
        return True  # asyncpg raises an unreachable server's ConnectionRefusedError (or timeout) as it is
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES) or sqlstate in _TRANSIENT_SQLSTATES
    return False


async def limit_lock_wait(session: AsyncSession, seconds: float, *, every_transaction: bool = False) -> None:
    """Make this session's transaction fail after waiting `seconds` for a lock, instead of
    waiting for ever (PostgreSQL; SQLite connections already give up after their busy timeout).

    `SET LOCAL` ends with the transaction. `every_transaction`: also each transaction the session
    begins later — for a loop that commits several times per session (the notifier, the bounce
    mailbox) and must fail its round, not hang in it, while another transaction holds a lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    statement = lock_wait_statement(seconds)
    if not every_transaction:
        await session.execute(statement)
        return

    def bound(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
        connection.execute(statement)

    event.listen(session.sync_session, "after_begin", bound)
    if session.in_transaction():  # begun already: the listener missed it
        await session.execute(statement)


def lock_wait_statement(seconds: float) -> TextClause:
    """PostgreSQL's `SET LOCAL lock_timeout`, in whole milliseconds (the one place it is written)."""
    return text(f"SET LOCAL lock_timeout = {max(1, round(seconds * 1000))}")


@contextlib.asynccontextmanager
async def lock_bounded_session(
    sessions: async_sessionmaker[AsyncSession], lock_timeout: float
) -> AsyncIterator[AsyncSession]:
    """A session from `sessions` whose every transaction waits at most `lock_timeout` seconds
    for a lock: a loop's round then fails (and says why) instead of hanging behind the lock."""
    async with sessions() as session:
        await limit_lock_wait(session, lock_timeout, every_transaction=True)
        yield session


class RoundRunner(Protocol):
    async def run(self, write: Callable[[Connection], T]) -> T:
        """`write(connection)` in a transaction, committed before this returns; raises what it raised."""
        ...

    async def aclose(self) -> None: ...


class ThreadedSqliteRounds:
    """SQLite: one sync connection, used only from one dedicated thread."""

    def __init__(self, url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.engine: Engine = create_sync_engine(url)
        busy_ms = max(1, round(lock_timeout * 1000))

        def pragmas(dbapi_connection: Any, record: Any) -> None:
            sqlite_pragmas(dbapi_connection, record)
            dbapi_connection.execute(f"PRAGMA busy_timeout={busy_ms}")

        event.listen(self.engine, "connect", pragmas)
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

    def __init__(
        self, engine: AsyncEngine, *, single_statement: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self.engine = engine
        self.single_statement = single_statement
        self.lock_timeout = lock_timeout
        self._connection: AsyncConnection | None = None

    async def run(self, write: Callable[[Connection], T]) -> T:
        if self._connection is None:
            connection = await self.engine.connect()
            if self.engine.dialect.name == "postgresql":
                try:  # a session setting: it outlives this transaction
                    await connection.execute(text(f"SET lock_timeout = {max(1, round(self.lock_timeout * 1000))}"))
                    await connection.commit()
                except BaseException:
                    await connection.close()
                    raise
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
    engine: AsyncEngine, *, single_statement: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> ThreadedSqliteRounds | AsyncConnectionRounds:
    """The cheapest way to run write rounds on `engine`'s database.

    `single_statement`: every round runs one statement, which may then commit by itself.
    `lock_timeout`: seconds a round waits for another transaction's lock before it fails.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        sync_url = make_url(url.render_as_string(hide_password=False)).set(drivername="sqlite")
        return ThreadedSqliteRounds(sync_url.render_as_string(hide_password=False), lock_timeout=lock_timeout)
    return AsyncConnectionRounds(engine, single_statement=single_statement, lock_timeout=lock_timeout)
