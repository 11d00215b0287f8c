"""Create or upgrade the schema with Alembic, from code (no alembic.ini needed).

`schema_state` says where a database stands (empty, behind, at head, ahead of this code) so
every command can say in one line what to do instead of failing on a missing table, and
`upgrade_and_describe` says what an upgrade did (created, upgraded from → to, nothing to do).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

import migrations
from services.db.engine import create_engine

UPGRADE_COMMAND = "invoicebot db upgrade"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration this version of invoicebot ships."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None  # migrations/versions is never empty
    return head


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision) is not None
    except CommandError:
        return False


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: `current` is None for a database without the schema."""

    current: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    @property
    def ahead(self) -> bool:
        """The database was migrated by a newer invoicebot than this one."""
        return self.current is not None and not _known(self.current)

    def problem(self) -> str | None:
        """One sentence for a command that needs the schema, or None when the database is at head."""
        if self.at_head:
            return None
        if self.current is None:
            return f"the database is not initialised: run `{UPGRADE_COMMAND}` first"
        if self.ahead:
            return (
                f"the database is at revision {self.current}, newer than this version of invoicebot "
                f"(head {self.head}): install the newer invoicebot"
            )
        return f"the database is at revision {self.current}, this version needs {self.head}: run `{UPGRADE_COMMAND}`"


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def read_schema_state(database_url: str) -> SchemaState:
    """Where the database at `database_url` stands. Raises the driver's error when it cannot be reached."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()
    return SchemaState(current=current, head=head_revision())


def schema_state(database_url: str) -> SchemaState:
    """`read_schema_state` for code outside an event loop (the CLI, before it starts one)."""
    return asyncio.run(read_schema_state(database_url))


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` to `revision` (blocking; runs its own loop)."""
    command.upgrade(alembic_config(database_url), revision)


def upgrade_and_describe(database_url: str) -> str:
    """Upgrade to head and say what was done, in the words `invoicebot db upgrade` prints."""
    before = schema_state(database_url)
    if before.at_head:
        return f"nothing to do (at {before.head})"
    if before.ahead:
        raise CommandError(before.problem() or "")
    upgrade(database_url)
    if before.current is None:
        return f"created the schema (head {before.head})"
    return f"upgraded from {before.current} to {before.head}"


def make_revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
