"""`invoicebot` — the command line. Settings are read once here; errors are one clear line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.bootstrap import Runtime, bootstrap
from bot.cli_admin import register as register_admin_commands
from bot.cli_alerts import register as register_alerts_commands
from bot.cli_audit import register as register_audit_commands
from bot.cli_autosend import register as register_autosend_commands
from bot.cli_demo import register as register_demo_command
from bot.cli_digest import register as register_digest_commands
from bot.cli_doctor import register as register_doctor_command
from bot.cli_emails import register as register_emails_commands
from bot.cli_health import register as register_health_commands
from bot.cli_links import register as register_links_commands
from bot.cli_payments import register as register_payments_commands
from bot.cli_reminder_rules import register as register_reminder_rules_commands
from bot.cli_reminders import register as register_reminders_commands
from bot.cli_runtime import register as register_runtime_commands
from bot.cli_schema import register as register_schema_commands
from bot.cli_schema import require_schema
from bot.cli_texts import register as register_texts_commands
from bot.cli_workspaces import register as register_workspaces_command
from bot.config import Settings, SettingsError, load_settings
from services.authorization import OPERATOR
from services.db.models import Invoice
from services.errors import DomainError, ImportRejected
from services.formatting import (
    format_day,
    format_moment,
    format_money,
    format_quantity,
    format_rate,
    format_unit_price,
)
from services.importing.limits import ImportLimits
from services.invoice_import import run_invoice_import
from services.invoicing.invoices import get_invoice, recipients_of
from services.invoicing.organisations import choose_organisation, organisation_locale
from services.invoicing.seed import run_seed
from services.invoicing.totals import LineAmounts, compute_totals
from services.sending.due import DueQuery, list_due_invoices
from services.unit_of_work import units_over
from services.use_cases import InvoiceChange, change_invoice

app = typer.Typer(help="Send customer invoices by email from Slack, and follow every email.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
invoices_app = typer.Typer(help="Look at invoices and change their state from the terminal.", no_args_is_help=True)
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


@dataclass
class Chosen:
    """`invoicebot --workspace T123 …`: the organisation the command acts for (issue 17)."""

    workspace: str | None = None


chosen = Chosen()


@app.callback()
def main_options(
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", help="the Slack workspace (team id) to act for, when several are installed"),
    ] = None,
) -> None:
    chosen.workspace = workspace


def run_with_runtime(work: Callable[[Runtime], Awaitable[T]], settings: Settings | None = None) -> T:
    """Check the schema, bootstrap (no loops), run `work` for the chosen organisation, release the runtime;
    domain errors (an ambiguous or unknown `--workspace` among them) become one line."""
    return _run(work, settings, for_one_organisation=True)


def run_over_all(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """`run_with_runtime` for a command about every organisation (`invoicebot workspaces`)."""
    return _run(work, None, for_one_organisation=False)


def _run(work: Callable[[Runtime], Awaitable[T]], settings: Settings | None, *, for_one_organisation: bool) -> T:
    settings = settings or settings_or_exit()
    require_schema(settings, fail)
    runtime = bootstrap(settings)

    async def main() -> T:
        try:
            if for_one_organisation:
                async with runtime.session() as session:
                    organisation = await choose_organisation(session, chosen.workspace)
                if organisation is not None:
                    runtime.organisations.pin(organisation.id)
            return await work(runtime)
        finally:
            await runtime.aclose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        raise fail(str(exc)) from None


def parse_day(option: str, value: str | None) -> date:
    try:
        return date.fromisoformat(value) if value else date.today()  # noqa: DTZ011 - the operator's own day
    except ValueError:
        raise fail(f"{option} {value!r} is not a date like 2026-11-23", 2) from None


LARGE_FILE_BYTES = 1_000_000  # below this an import is over before a progress bar helps


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="a .csv or .json file (format in the README)")],
) -> None:
    """Import invoices and customers; a file with any problem imports nothing."""

    settings = settings_or_exit()

    async def work(runtime: Runtime) -> None:
        limits = ImportLimits(
            max_bytes=settings.import_max_bytes,
            max_columns=settings.import_max_columns,
            max_field_chars=settings.import_max_field_chars,
        )
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=errors,
            transient=True,
            disable=not file.exists() or file.stat().st_size < LARGE_FILE_BYTES,
        )
        task = progress.add_task(f"checking {file.name}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, description=f"importing {file.name}", completed=done, total=total)

        organisation_id = await runtime.organisation_id()
        try:
            with progress:
                summary = await run_invoice_import(
                    units_over(runtime.sessions),
                    organisation_id=organisation_id,
                    path=file,
                    actor=OPERATOR,
                    progress=advance,
                    limits=limits,
                )
        except ImportRejected as rejected:
            for problem in rejected.problems:
                errors.print(problem, highlight=False, markup=False)
            if rejected.not_shown:
                errors.print(f"… and {rejected.not_shown:,} more problems", highlight=False, markup=False)
            raise
        console.print(
            f"imported {file.name}: {summary.rows} rows, {summary.invoices} invoices "
            f"({summary.invoices_created} created, {summary.invoices_updated} updated, "
            f"{summary.invoices_unchanged} unchanged), customers {summary.customers_created} created, "
            f"{summary.customers_updated} updated",
            highlight=False,
        )

    run_with_runtime(work, settings)


@app.command("seed")
def seed_command(
    today: Annotated[str | None, typer.Option(help="build the demo around this date (YYYY-MM-DD)")] = None,
    smtp_verified: Annotated[
        bool, typer.Option("--smtp-verified", help="also mark the SMTP settings verified (demo only)")
    ] = False,
) -> None:
    """Demo customers in six languages and invoices in every state; running it twice adds nothing."""
    day = parse_day("--today", today)

    async def work(runtime: Runtime) -> None:
        summary = await run_seed(
            units_over(runtime.sessions),
            organisation_id=await runtime.organisation_id(),
            today=day,
            smtp_verified=smtp_verified,
        )
        console.print(
            f"seeded {summary.customers} customers and {summary.invoices_created} invoices "
            f"({summary.invoices_skipped} already there), around {day.isoformat()}",
            highlight=False,
        )

    run_with_runtime(work)


@invoices_app.command("due")
def invoices_due(
    customer: Annotated[str | None, typer.Argument(help="customer reference or part of the name")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=500)] = 20,
    today: Annotated[str | None, typer.Option(help="pretend today is this date (YYYY-MM-DD)")] = None,
) -> None:
    """Invoices due today or earlier that have not been sent, with their readiness."""
    day = parse_day("--today", today)

    async def work(runtime: Runtime) -> None:
        async with runtime.session() as session:
            organisation = await runtime.organisations.organisation(session)
            locale = organisation_locale(organisation)
            due = await list_due_invoices(
                session,
                DueQuery(
                    organisation_id=organisation.id,
                    today=day,
                    sending=runtime.organisation_settings.sending_state(organisation),
                    customer=customer,
                ),
                page=page,
                page_size=page_size,
            )
        table = Table(
            title=(
                f"Due on or before {format_day(day, locale)} — page {due.page}/{due.page_count},"
                f" {due.total_count} in all"
            )
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
            amount = format_money(item.total, item.currency, locale)
            table.add_row(item.number, item.customer_name, amount, overdue, verdict)
        console.print(table)

    run_with_runtime(work)


def print_invoice(invoice: Invoice, *, locale: str) -> None:
    """One invoice for the team, amounts and dates in the organisation's `locale`, as Slack shows them."""
    customer, currency = invoice.customer, invoice.currency
    console.print(f"[bold]Invoice {invoice.number}[/bold] — {invoice.status}", highlight=False)
    console.print(f"Customer:   {customer.name} ({customer.ref}), language {customer.language}", highlight=False)
    issued, due = format_day(invoice.issue_date, locale), format_day(invoice.due_date, locale)
    console.print(f"Issued:     {issued}    Due: {due}")
    recipients = recipients_of(invoice)
    console.print(f"To:         {', '.join(recipients) if recipients else '(no email address)'}", highlight=False)
    if customer.cc:
        console.print(f"Cc:         {', '.join(customer.cc)}", highlight=False)
    if invoice.sent_at is not None:
        how = "by email" if invoice.sent_via == "email" else "manually"
        console.print(f"Sent:       {format_moment(invoice.sent_at, locale)} {how} ({invoice.sent_by})")
    for label, moment in (
        ("Validated", invoice.validated_at),
        ("Paid", invoice.paid_at),
        ("Voided", invoice.voided_at),
    ):
        if moment is not None:
            console.print(f"{label + ':':11} {format_moment(moment, locale)}")
    table = Table()
    for column in ("#", "Description", "Quantity", "Unit price", "Tax %", "Net"):
        table.add_column(column, justify="left" if column == "Description" else "right")
    for line in invoice.lines:
        table.add_row(
            str(line.position),
            line.description,
            format_quantity(line.quantity, locale),
            format_unit_price(line.unit_price, currency, locale),
            format_rate(line.tax_rate, locale),
            format_money(line.net_amount, currency, locale),
        )
    console.print(table)
    totals = compute_totals((LineAmounts(x.quantity, x.unit_price, x.tax_rate) for x in invoice.lines), currency)
    console.print(f"Subtotal:   {format_money(invoice.subtotal, currency, locale)}")
    for tax in totals.taxes:
        taxable, amount = format_money(tax.taxable, currency, locale), format_money(tax.tax, currency, locale)
        console.print(f"Tax {format_rate(tax.rate, locale)} on {taxable}: {amount}")
    console.print(f"[bold]Total:      {format_money(invoice.total, currency, locale)}[/bold]")


@invoices_app.command("show")
def invoices_show(number: Annotated[str, typer.Argument(help="the invoice number")]) -> None:
    """One invoice: customer, recipients, lines, totals and status."""

    async def work(runtime: Runtime) -> None:
        async with runtime.session() as session:
            organisation = await runtime.organisations.organisation(session)
            invoice = await get_invoice(session, organisation_id=organisation.id, number=number, with_lines=True)
            locale = organisation_locale(organisation)
        print_invoice(invoice, locale=locale)

    run_with_runtime(work)


def change_state(number: str, change: InvoiceChange, done: str) -> None:
    """The same use case as the `/invoices due` row menu; it commits, the CLI only says what happened."""

    async def work(runtime: Runtime) -> None:
        organisation_id = await runtime.organisation_id()
        changed = await change_invoice(
            units_over(runtime.sessions),
            rules=runtime.organisation_settings.rules,
            organisation_id=organisation_id,
            number=number,
            actor=OPERATOR,
            change=change,
        )
        console.print(f"Invoice {changed} {done}.", highlight=False)

    run_with_runtime(work)


@invoices_app.command("validate")
def invoices_validate(number: str) -> None:
    """Validate a draft, so it can be sent."""
    change_state(number, InvoiceChange.VALIDATE, "is validated")


@invoices_app.command("mark-sent")
def invoices_mark_sent(number: str) -> None:
    """Record that the invoice was sent by other means; no email goes out."""
    change_state(number, InvoiceChange.MARK_SENT, "is marked as sent (manually); no email was sent")


@invoices_app.command("void")
def invoices_void(number: str) -> None:
    """Void the invoice; it will not be sent."""
    change_state(number, InvoiceChange.VOID, "is void")


register_schema_commands(db_app, settings_or_exit, fail)
register_runtime_commands(app, settings_or_exit, fail)
register_admin_commands(app, run_with_runtime)
register_texts_commands(app, run_with_runtime)
register_links_commands(app, run_with_runtime)
register_payments_commands(app, invoices_app, run_with_runtime, fail)
register_digest_commands(app, run_with_runtime, fail)
register_autosend_commands(app, run_with_runtime, settings_or_exit, fail)
register_reminders_commands(app, run_with_runtime, settings_or_exit, fail)
register_reminder_rules_commands(app, run_with_runtime, fail)
register_health_commands(app, run_with_runtime)
register_workspaces_command(app, run_over_all)
register_demo_command(app, settings_or_exit, fail)
register_doctor_command(app)
register_audit_commands(app, run_with_runtime=run_with_runtime, run_over_all=run_over_all, fail=fail)
register_alerts_commands(app, run_with_runtime=run_with_runtime, settings_or_exit=settings_or_exit, fail=fail)
register_emails_commands(app, run_over_all=run_over_all, settings_or_exit=settings_or_exit, fail=fail)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
