"""One use case, one transaction: the unit of work services open, commit and roll back.

Handlers, loops, the CLI and the web surface never commit (tests/unit/test_transactions_in_services.py
scans `handlers/`, `bot/` and `web/` for it): they call a use case
(`services.use_cases`), which opens a unit of work over the session factory, does its
work and returns a plain result. Leaving the `async with` block normally writes what the
state changes owe — their audit entries and their Slack posts (notification rows) — and
commits, all in one transaction, so a change and its side effects cannot disagree; an
exception rolls everything back, owed entries included, and propagates.

`UnitOfWork` is the protocol use cases are written against, so a unit test can hand
them a fake that records what was owed and whether it committed (tests/unit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import Connection, insert
from sqlalchemy.ext.asyncio import AsyncSession

# AuditEntry lives beside record_audit (services/audit.py); use cases import it from here with OwedPost.
from services.audit import AuditEntry as AuditEntry
from services.audit import record_audit
from services.db.models import AuditLog
from services.home_changes import insert_home_changes, note_home_changes
from services.notifications import NotificationKind, NotificationRequest, enqueue_notification

SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def insert_owed_audits(connection: Connection, *, audits: Sequence[AuditEntry], at: datetime) -> None:
    """`write_owed`'s audit entries on a sync Core connection (the send worker's group commit):
    one executemany INSERT of the same columns `record_audit` fills through the ORM, and the App Home
    change marker of their organisations (services/home_changes.py). The caller commits."""
    if audits:
        connection.execute(insert(AuditLog.__table__), [{**asdict(entry), "created_at": at} for entry in audits])
        insert_home_changes(connection, (entry.organisation_id for entry in audits), at=at)


@dataclass(frozen=True)
class OwedPost:
    """A Slack post a change owes (a notification row, drained by bot/notifier.py)."""

    organisation_id: int
    delivery_id: int | None
    kind: NotificationKind
    payload: dict[str, Any]
    channel: str | None = None  # None: the organisation's notify channel
    now: datetime | None = None


class UnitOfWork(Protocol):
    """What a use case needs from its transaction."""

    @property
    def session(self) -> AsyncSession: ...

    def owe_audit(self, entry: AuditEntry) -> None: ...

    def owe_post(self, post: OwedPost) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...


UnitsOfWork = Callable[[], UnitOfWork]


class SessionUnitOfWork:
    """A unit of work over one session of `sessions`: commit on success, roll back on error."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._opened: AbstractAsyncContextManager[AsyncSession] | None = None
        self._session: AsyncSession | None = None
        self.audits: list[AuditEntry] = []
        self.posts: list[OwedPost] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("a unit of work is used inside `async with` only")
        return self._session

    def owe_audit(self, entry: AuditEntry) -> None:
        self.audits.append(entry)

    def owe_post(self, post: OwedPost) -> None:
        self.posts.append(post)

    async def __aenter__(self) -> Self:
        self._opened = self._sessions()
        self._session = await self._opened.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        opened, session = self._opened, self.session
        try:
            if error is None:
                await self._write_owed(session)
                await session.commit()
            else:
                await session.rollback()
        finally:
            self._opened = self._session = None
            self.audits, self.posts = [], []
            if opened is not None:
                await opened.__aexit__(kind, error, trace)

    async def _write_owed(self, session: AsyncSession) -> None:
        await write_owed(session, audits=self.audits, posts=self.posts)


async def write_owed(
    session: AsyncSession, *, audits: Sequence[AuditEntry] = (), posts: Sequence[OwedPost] = ()
) -> None:
    """Write what changes owe into `session`'s transaction (the one writer of owed entries).

    The only caller of `record_audit` (tests/unit/test_transactions_in_services.py checks it): a
    unit of work calls it when it commits, and a function that changes an aggregate and audits
    it together (an invoice's `_record_move`, `revoke_invoice_token`, …) calls it with its entry.
    Every state change passes here, so it also owes the changed organisations' App Homes a
    republish (services/home_changes.py), in the same transaction.
    """
    for entry in audits:
        record_audit(session, entry)
    for post in posts:
        request = NotificationRequest(post.organisation_id, post.delivery_id, post.kind, post.channel, post.payload)
        await enqueue_notification(session, request, now=post.now)
    note_home_changes(session, [entry.organisation_id for entry in audits] + [p.organisation_id for p in posts])


def units_over(sessions: SessionFactory) -> UnitsOfWork:
    """The unit-of-work factory a use case takes, over a session factory (built once in bot/)."""

    def unit() -> UnitOfWork:
        return SessionUnitOfWork(sessions)

    return unit
