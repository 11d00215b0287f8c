"""`invoicebot invoices paid NUMBER [--amount] [--date] [--reference]` and `invoicebot payments import FILE.csv`.

Both record payments through `services.invoicing.payments.record_payment` (the rules live
there: no overpayment, nothing on a draft or void invoice, audited, paid in full closes the
invoice). The CLI acts as the operator `cli` (services.authorization).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.bootstrap import Runtime
from services.authorization import OPERATOR
from services.db.models import PaymentSource
from services.importing.limits import BoundedLines
from services.importing.payments import PaymentImport
from services.invoicing.payments import PaymentRequest
from services.payments_import import PaymentImportRun, import_payments
from services.unit_of_work import units_over
from services.use_cases import record_a_payment

console = Console()
RunWithRuntime = Callable[[Callable[[Runtime], Awaitable[Any]]], Any]
Fail = Callable[[str, int], typer.Exit]


def _amount(value: str | None, fail: Fail) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        raise fail(f"--amount {value!r} is not an amount like 120.50", 2) from None


def _day(value: str | None, fail: Fail) -> date:
    try:
        return date.fromisoformat(value) if value else date.today()  # noqa: DTZ011 - the operator's own day
    except ValueError:
        raise fail(f"--date {value!r} is not a date like 2026-11-23", 2) from None


def _print_import(file: Path, result: PaymentImport) -> None:
    for line, recorded in result.recorded:
        console.print(f"line {line}: {recorded.sentence}", highlight=False)
    for line in result.repeated:
        console.print(f"line {line}: already recorded by an earlier import; nothing recorded again", highlight=False)
    for problem in result.problems:
        console.print(f"line {problem.line}: not recorded: {problem.reason}", highlight=False)
    hidden = result.problems.count - len(list(result.problems))
    if hidden > 0:
        console.print(f"… and {hidden:,} more lines not recorded", highlight=False)
    console.print(
        f"{file.name}: {len(result.recorded)} payment(s) recorded, {len(result.repeated)} already recorded, "
        f"{result.problems.count} line(s) not recorded.",
        highlight=False,
    )


def register(app: typer.Typer, invoices_app: typer.Typer, run_with_runtime: RunWithRuntime, fail: Fail) -> None:
    payments_app = typer.Typer(help="Payments received against invoices.", no_args_is_help=True)
    app.add_typer(payments_app, name="payments")

    @invoices_app.command("paid")
    def invoices_paid(
        number: Annotated[str, typer.Argument(help="the invoice number")],
        amount: Annotated[str | None, typer.Option(help="the amount received; the whole balance if left out")] = None,
        day: Annotated[
            str | None, typer.Option("--date", help="when it was paid (YYYY-MM-DD); today if left out")
        ] = None,
        reference: Annotated[str, typer.Option(help="the bank's reference for the payment")] = "",
    ) -> None:
        """Record a payment (full or partial); paid in full, the invoice is marked as paid."""
        request = PaymentRequest(
            number=number, amount=_amount(amount, fail), paid_on=_day(day, fail), actor=OPERATOR,
            source=PaymentSource.CLI, reference=reference,
        )  # fmt: skip

        async def work(runtime: Runtime) -> None:
            recorded = await record_a_payment(
                units_over(runtime.sessions),
                rules=runtime.organisation_settings.rules,
                organisation_id=await runtime.organisation_id(),
                request=request,
            )
            console.print(recorded.sentence, highlight=False)

        run_with_runtime(work)

    @payments_app.command("import")
    def payments_import(
        file: Annotated[Path, typer.Argument(help="a .csv file: invoice_number or reference, amount, date")],
    ) -> None:
        """Record a bank export's payments; lines that match no invoice or are refused are listed."""
        if not file.is_file():
            raise fail(f"{file} is not a file", 2)

        async def work(runtime: Runtime) -> PaymentImport:
            run = PaymentImportRun(
                units=units_over(runtime.sessions),
                organisation_id=await runtime.organisation_id(),
                rules=runtime.organisation_settings.rules,
                actor=OPERATOR,
            )
            with BoundedLines.open(file) as stream:
                return await import_payments(run, stream)

        result = run_with_runtime(work)
        _print_import(file, result)
        if result.problems.count:
            raise typer.Exit(1)
