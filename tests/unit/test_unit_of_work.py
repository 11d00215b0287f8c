"""The unit of work: commit on success with what was owed, roll back on error, always close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from services.db.models import AuditLog, HomeChange, Notification
from services.notifications import NotificationKind
from services.unit_of_work import AuditEntry, OwedPost, SessionUnitOfWork, units_over


class RecordingSession:
    """Stands in for an AsyncSession: records what was added and how the transaction ended."""

    def __init__(self) -> None:
        self.added: list[Any] = []
        self.ended: list[str] = []
        self.closed = False

    def add(self, row: Any) -> None:
        self.added.append(row)

    async def flush(self) -> None:
        self.ended.append("flush")

    async def commit(self) -> None:
        self.ended.append("commit")

    async def rollback(self) -> None:
        self.ended.append("rollback")


class Sessions:
    def __init__(self) -> None:
        self.opened: list[RecordingSession] = []

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[RecordingSession]:
        session = RecordingSession()
        self.opened.append(session)
        try:
            yield session
        finally:
            session.closed = True


AUDIT = AuditEntry(organisation_id=1, actor="U1", action="delivery.requested", subject_type="delivery", subject_id=7)
POST = OwedPost(organisation_id=1, delivery_id=7, kind=NotificationKind.APPROVAL_REQUEST, payload={"status": "x"})


async def test_leaving_normally_writes_what_is_owed_then_commits_and_closes() -> None:
    sessions = Sessions()
    async with SessionUnitOfWork(sessions) as unit:  # type: ignore[arg-type]
        unit.owe_audit(AUDIT)
        unit.owe_post(POST)
        assert sessions.opened[0].added == []  # owed, not yet written
    session = sessions.opened[0]
    assert [type(row) for row in session.added] == [AuditLog, Notification, HomeChange]
    assert session.added[0].action == "delivery.requested" and session.added[1].kind == "approval_request"
    assert session.added[2].organisation_id == 1  # one App Home change marker for the organisation
    assert session.ended[-1] == "commit" and session.ended.count("commit") == 1
    assert session.closed


async def test_an_error_rolls_back_writes_nothing_owed_and_propagates() -> None:
    sessions = Sessions()
    with pytest.raises(ValueError, match="refused"):
        async with units_over(sessions)() as unit:  # type: ignore[arg-type]
            unit.owe_audit(AUDIT)
            raise ValueError("refused")
    session = sessions.opened[0]
    assert session.added == [] and session.ended == ["rollback"] and session.closed


async def test_the_session_exists_only_inside_the_block() -> None:
    unit = SessionUnitOfWork(Sessions())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="inside `async with`"):
        unit.session  # noqa: B018
    async with unit:
        assert unit.session is not None
    with pytest.raises(RuntimeError):
        unit.session  # noqa: B018
