"""Which database the suite runs on: PostgreSQL when TEST_DATABASE_URL names one, else SQLite files."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


async def count_rows(session: AsyncSession, model: type[Any]) -> int:
    """How many rows `model`'s table holds, as this session sees it."""
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())
