"""`invoicebot` — the command line. Settings are read once here; errors are one clear line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.config import Settings, SettingsError, load_settings
from bot.container import Container
from services.db.migrate import upgrade
from services.due import list_due_invoices
from services.errors import DomainError
from services.money import format_money

app = typer.Typer(help="Send customer invoices by email from Slack, and follow every email.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
invoices_app = typer.Typer(help="Look at invoices from the terminal.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(invoices_app, name="invoices")

console = Console()
errors = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


def run_with_container(work: Callable[[Container], Awaitable[T]]) -> T:
    """Build the container, run `work`, dispose of the engine; domain errors become one line."""
    container = Container.build(settings_or_exit())

    async def main() -> T:
        try:
            return await work(container)
        finally:
            await container.close()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        raise fail(str(exc)) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the schema, or migrate it to the latest version."""
    settings = settings_or_exit()
    upgrade(settings.database_url)
    console.print("database is up to date")


@invoices_app.command("due")
def invoices_due(
    customer: Annotated[str | None, typer.Argument(help="customer reference or part of the name")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=500)] = 20,
    today: Annotated[str | None, typer.Option(help="pretend today is this date (YYYY-MM-DD)")] = None,
) -> None:
    """Invoices due today or earlier that have not been sent, with their readiness."""
    try:
        day = date.fromisoformat(today) if today else date.today()  # noqa: DTZ011 - the operator's own day
    except ValueError:
        raise fail(f"--today {today!r} is not a date like 2026-11-23", 2) from None

    async def work(container: Container) -> None:
        async with container.session() as session:
            organisation = await container.organisation(session)
            due = await list_due_invoices(
                session,
                organisation_id=organisation.id,
                today=day,
                sending=container.sending_state(organisation),
                customer=customer,
                page=page,
                page_size=page_size,
            )
        table = Table(
            title=f"Due on or before {day.isoformat()} — page {due.page}/{due.page_count}, {due.total_count} in all"
        )
        for column in ("Number", "Customer", "Amount", "Overdue", "Ready"):
            table.add_column(column, justify="right" if column in ("Amount", "Overdue") else "left")
        for item in due.items:
            verdict = (
                "[green]ready[/green]"
                if item.ready
                else "[yellow]" + "; ".join(p.message for p in item.problems) + "[/yellow]"
            )
            overdue = f"{item.days_overdue} d" if item.days_overdue else "today"
            table.add_row(item.number, item.customer_name, format_money(item.total, item.currency), overdue, verdict)
        console.print(table)

    run_with_container(work)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
