"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL from TEST_DATABASE_URL).

SQLite: the schema is migrated once into a template file, copied for each test.
PostgreSQL: migrated once per run (after dropping what was there), every table emptied
before each test. The fixtures every kind of test shares live in `tests/harness/`.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.db.engine import create_engine, session_factory
from services.db.migrate import upgrade
from services.db.models import Base, Organisation, SmtpStatus
from tests.harness.database import POSTGRES_URL

# The shared fixtures (fake Slack and the real app, SMTP server and client, notifier, the CLI, the web app the
# healing tests' worker reports to, the test DNS server), for every test.
pytest_plugins = (
    "tests.harness.slack",
    "tests.harness.mail",
    "tests.harness.notifying",
    "tests.harness.cli",
    "tests.harness.healing",
    "tests.harness.dns",
)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at head: a SQLite template file, or the PostgreSQL database itself."""
    if POSTGRES_URL:
        import asyncio

        async def reset() -> None:
            engine = create_engine(POSTGRES_URL)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        asyncio.run(reset())
        upgrade(POSTGRES_URL)
        return POSTGRES_URL
    template = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{template}")
    return str(template)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database at head, private to this test."""
    if POSTGRES_URL:
        yield POSTGRES_URL
        return
    target = tmp_path / "invoicebot.db"
    shutil.copyfile(migrated_template, target)
    yield f"sqlite:///{target}"


async def _empty_postgres(engine: AsyncEngine) -> None:
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    if engine.dialect.name == "postgresql":
        await _empty_postgres(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


@pytest.fixture
async def org(session: AsyncSession) -> Organisation:
    """A committed organisation whose SMTP settings are verified."""
    organisation = Organisation(
        name="Example Trading Ltd",
        street="1 Example Street",
        city="London",
        tax_id="GB123456789",
        country="GB",
        default_language="en",
        sender_email="invoices@example.com",
        smtp_status=SmtpStatus.VERIFIED,
    )
    session.add(organisation)
    await session.commit()
    return organisation
