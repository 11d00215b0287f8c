"""The Alembic migrations create exactly the schema the models describe."""

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db.engine import create_engine
from services.db.migrate import upgrade
from services.db.models import Base
from tests.harness.database import POSTGRES_URL


async def test_migrations_at_head_match_the_models(engine: AsyncEngine) -> None:
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []


OLD_CUSTOMERS = {
    "ACME": ("14 Fleet Street\nLondon EC4Y 1AA\nUnited Kingdom", None),
    "LYON": ("27 rue de la République\nBâtiment B\n69002 Lyon\nFrance", "FR"),
    "ROTT": ("Havenstraat 112\n3011 AK Rotterdam\nNederland", None),
    "SPRING": ("1 Main St\nSpringfield", None),
    "NONE": ("", "DE"),
}


def _reset_postgres(url: str) -> None:
    async def reset() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


def test_the_postal_migration_reads_old_free_text_addresses_into_parts(tmp_path: Path) -> None:
    url = POSTGRES_URL or f"sqlite:///{tmp_path / 'old.db'}"
    if POSTGRES_URL:
        _reset_postgres(url)  # leaves the database at head again below, as the other tests expect
    upgrade(url, "0006_doors")

    async def fill() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO organisations (id, name, address, tax_id, country, default_language, sender_email,"
                    " smtp_status, created_at) VALUES (1, 'Example', :address, '', 'GB', 'en', 'a@example.com',"
                    " 'unverified', CURRENT_TIMESTAMP)"
                ),
                {"address": "1 Example Street\nLondon EC1A 1AA\nUnited Kingdom"},
            )
            for ref, (address, country) in OLD_CUSTOMERS.items():
                await conn.execute(
                    text(
                        "INSERT INTO customers (organisation_id, ref, name, address, country, language, emails, cc,"
                        " created_at, updated_at) VALUES (1, :ref, :ref, :address, :country, 'en', '[]', '[]',"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"ref": ref, "address": address, "country": country},
                )
        await engine.dispose()

    async def read() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], set[str]]:
        engine = create_engine(url)
        parts = "street, additional, city, postal_code, subdivision, country"
        async with engine.connect() as conn:
            orgs = [tuple(row) for row in await conn.execute(text(f"SELECT {parts} FROM organisations"))]
            customers = [
                tuple(row) for row in await conn.execute(text(f"SELECT ref, {parts} FROM customers ORDER BY ref"))
            ]
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("customers")})
        await engine.dispose()
        return orgs, customers, columns

    asyncio.run(fill())
    upgrade(url)
    orgs, customers, columns = asyncio.run(read())

    assert orgs == [("1 Example Street", "", "London", "EC1A 1AA", "", "GB")]
    assert customers == [
        ("ACME", "14 Fleet Street", "", "London", "EC4Y 1AA", "", "GB"),
        ("LYON", "27 rue de la République", "Bâtiment B", "Lyon", "69002", "", "FR"),
        ("NONE", "", "", "", "", "", "DE"),
        ("ROTT", "Havenstraat 112", "", "Rotterdam", "3011 AK", "", "NL"),
        ("SPRING", "1 Main St", "", "Springfield", "", "", None),
    ]
    assert "address" not in columns  # nothing reads the free text any more
