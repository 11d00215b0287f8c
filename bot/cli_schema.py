"""Whether the database is ready for a command, said in one line (and `invoicebot db upgrade`).

Every command that reads or writes invoices checks the schema first: a fresh database gets
"the database is not initialised: run `invoicebot db upgrade` first", not a traceback about a
missing table. `run`, `web` and `worker` upgrade it themselves only when
INVOICEBOT_AUTO_MIGRATE is on, so a deploy that forgot its migration step fails loudly by default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import typer
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from services.db.migrate import SchemaState, schema_state, upgrade_and_describe
from services.errors import error_summary

log = logging.getLogger("invoicebot")

Fail = Callable[..., typer.Exit]


class DatabaseUnreachable(Exception):
    """The database could not be opened; the message says why in the driver's words."""


def read_state(database_url: str) -> SchemaState:
    """The schema state, or DatabaseUnreachable with one line."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # checked here: aiosqlite's failed open otherwise outlives the event loop and prints a traceback
        folder = Path(url.database).parent
        if not folder.is_dir():
            raise DatabaseUnreachable(f"cannot open the database: the folder {folder} does not exist")
    try:
        return schema_state(database_url)
    except (OSError, SQLAlchemyError) as exc:
        raise DatabaseUnreachable(f"cannot open the database: {error_summary(exc)}") from None


def require_schema(settings: Settings, fail: Fail, *, may_upgrade: bool = False) -> None:
    """Exit with one line unless the database is at head; `may_upgrade` (run/web/worker) upgrades
    it first when INVOICEBOT_AUTO_MIGRATE allows."""
    try:
        state = read_state(settings.database_url)
        if not state.at_head and may_upgrade and settings.auto_migrate and not state.ahead:
            log.info("INVOICEBOT_AUTO_MIGRATE: %s", upgrade_and_describe(settings.database_url))
            return
    except DatabaseUnreachable as exc:
        raise fail(str(exc)) from None
    problem = state.problem()
    if problem is not None:
        raise fail(problem)


def register(db_app: typer.Typer, settings_or_exit: Callable[[], Settings], fail: Fail) -> None:
    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Create the schema, or migrate it to the latest version; says which it did."""
        settings = settings_or_exit()
        try:
            read_state(settings.database_url)
            done = upgrade_and_describe(settings.database_url)
        except (DatabaseUnreachable, CommandError) as exc:
            raise fail(str(exc)) from None
        typer.echo(f"database: {done}")
