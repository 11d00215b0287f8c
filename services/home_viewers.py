"""Who has App Home open: one row per (organisation, Slack user), written on every `app_home_opened`.

Any web process may serve the opening and any process's notifier may make the post that changes
Home, so the register lives here, in the database, not in one process's memory. Whoever opened
Home within `VIEWER_WINDOW` is republished after a change; older viewers get a fresh view at
their next visit (Slack keeps showing the last one published meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import HomeViewer

VIEWER_WINDOW = timedelta(days=30)
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def record_home_opened(sessions: Sessions, *, organisation_id: int, user_id: str, now: datetime) -> None:
    """Insert or refresh the person's row (one statement, no race between two processes); commits."""
    async with sessions() as session:
        dialect = session.bind.dialect.name if session.bind is not None else ""
        insert = postgresql.insert(HomeViewer) if dialect == "postgresql" else sqlite.insert(HomeViewer)
        values = {"organisation_id": organisation_id, "user_id": user_id, "opened_at": now}
        upsert = insert.values(values).on_conflict_do_update(
            index_elements=["organisation_id", "user_id"], set_={"opened_at": insert.excluded.opened_at}
        )
        await session.execute(upsert)
        await session.commit()


async def home_viewers_of(
    sessions: Sessions, *, organisation_id: int, now: datetime, window: timedelta = VIEWER_WINDOW
) -> list[str]:
    """The Slack users of the organisation who opened App Home within `window` before `now`."""
    async with sessions() as session:
        rows = await session.scalars(
            select(HomeViewer.user_id)
            .where(HomeViewer.organisation_id == organisation_id, HomeViewer.opened_at >= now - window)
            .order_by(HomeViewer.opened_at.desc(), HomeViewer.user_id)
        )
        return list(rows)
