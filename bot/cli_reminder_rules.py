"""`invoicebot reminders ladder|pause|resume|promise|dispute|undispute|invoice`: the ladders and stop rules.

The ladder's one syntax is `services.reminders.ladder.parse_ladder`'s ("-3 friendly, 0 neutral, +7 firm
fee 15.00"), the same as the settings modal's field. Each command is one audited use case in
services/reminders (ladder.py, stops.py), acted as the CLI's operator; bad input (an unknown customer or
invoice, a past date, a ladder that gets gentler or repeats a day, a fee of zero or less, an empty
reason) is one sentence on stderr, a non-zero exit and nothing written. Dates are the organisation's
local dates: a promise or a pause runs to its date inclusive and ends by itself the day after.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

import typer

from bot.bootstrap import Runtime
from services.authorization import OPERATOR
from services.clock import utcnow
from services.errors import InvalidInput
from services.reminders.ladder import (
    LadderInForce,
    LadderSource,
    Step,
    clear_customer_ladder,
    ladder_in_force,
    parse_ladder,
    set_ladder,
)
from services.reminders.plan import local_today
from services.reminders.stops import (
    lift_dispute,
    mark_disputed,
    pause_customer,
    promise_to_pay,
    set_invoice_reminders,
)
from services.unit_of_work import UnitsOfWork, units_over

RunWithRuntime = Callable[[Callable[[Runtime], Awaitable[Any]]], Any]
Fail = Callable[[str, int], typer.Exit]
CHOICES = {"on": True, "off": False, "default": None}
CHOICE_WORDS = {
    "on": "reminders on (even if it was marked as sent manually)",
    "off": "reminders off",
    "default": "reminders as the rules decide (none when it was marked as sent manually)",
}
CUSTOMER_HELP = "the customer's reference (as imported)"


def step_line(step: Step) -> str:
    """One rung as the operator reads it: "  +7 days  neutral, fee line 15.00"."""
    fee = f", fee line {step.fee}" if step.fee is not None else ""
    return f"  {step.offset_days:+d} days  {step.tone.value}{fee}"


def ladder_lines(found: LadderInForce) -> list[str]:
    """`ladder show`: whose ladder, where it comes from, then one line per step."""
    whom = f"Invoices of {found.customer}" if found.customer else "The organisation's invoices"
    head = f"{whom} climb {found.source.value}"
    if found.source is LadderSource.DEFAULT:
        head += " (no ladder set)"
    return [f"{head}:", *(step_line(step) for step in found.steps)]


def _until(value: str, fail: Fail) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"--until {value!r} is not a date like 2026-12-31.", 2) from None


def _steps(text: str, fail: Fail) -> tuple[Step, ...]:
    try:
        return parse_ladder(text)
    except InvalidInput as exc:
        raise fail(str(exc), 2) from None


async def _today(runtime: Runtime, organisation_id: int) -> date:
    async with runtime.session() as session:
        return await local_today(session, organisation_id=organisation_id, moment=utcnow())


def _register_ladder(reminders_app: typer.Typer, run_with_runtime: RunWithRuntime, fail: Fail) -> None:
    ladder_app = typer.Typer(help="The reminder ladder: the organisation's and a customer's own.", no_args_is_help=True)
    reminders_app.add_typer(ladder_app, name="ladder")

    @ladder_app.command("show")
    def ladder_show(customer: Annotated[str | None, typer.Option("--customer", help=CUSTOMER_HELP)] = None) -> None:
        """Print the ladder in force (the organisation's, or one customer's) and where it comes from."""

        async def work(runtime: Runtime) -> LadderInForce:
            organisation_id = await runtime.organisation_id()
            async with runtime.session() as session:
                return await ladder_in_force(session, organisation_id=organisation_id, customer_ref=customer)

        for line in ladder_lines(run_with_runtime(work)):
            typer.echo(line)

    @ladder_app.command("set", context_settings={"ignore_unknown_options": True})  # "-3 friendly, …" is no option
    def ladder_set(
        steps: Annotated[str, typer.Argument(help='the steps, like "-3 friendly, 0 neutral, +7 firm fee 15.00"')],
        customer: Annotated[str | None, typer.Option("--customer", help=CUSTOMER_HELP)] = None,
    ) -> None:
        """Replace the organisation's ladder, or give one customer a ladder of its own."""
        ladder = _steps(steps, fail)

        async def work(runtime: Runtime) -> LadderInForce:
            organisation_id = await runtime.organisation_id()
            await set_ladder(
                units_over(runtime.sessions),
                organisation_id=organisation_id,
                actor=OPERATOR,
                steps=ladder,
                customer_ref=customer,
            )
            async with runtime.session() as session:
                return await ladder_in_force(session, organisation_id=organisation_id, customer_ref=customer)

        for line in ladder_lines(run_with_runtime(work)):
            typer.echo(line)

    @ladder_app.command("clear")
    def ladder_clear(customer: Annotated[str, typer.Option("--customer", help=CUSTOMER_HELP)]) -> None:
        """Drop a customer's own ladder: its invoices climb the organisation's again."""

        async def work(runtime: Runtime) -> LadderInForce:
            organisation_id = await runtime.organisation_id()
            units = units_over(runtime.sessions)
            await clear_customer_ladder(units, organisation_id=organisation_id, actor=OPERATOR, customer_ref=customer)
            async with runtime.session() as session:
                return await ladder_in_force(session, organisation_id=organisation_id, customer_ref=customer)

        for line in ladder_lines(run_with_runtime(work)):
            typer.echo(line)


def _register_customer_stops(reminders_app: typer.Typer, run_with_runtime: RunWithRuntime, fail: Fail) -> None:
    @reminders_app.command("pause")
    def pause(
        customer: Annotated[str, typer.Argument(help=CUSTOMER_HELP)],
        until: Annotated[str, typer.Option("--until", help="the last day without reminders, like 2026-12-31")],
    ) -> None:
        """No reminder to this customer up to and including --until; they resume by themselves the day after."""
        last = _until(until, fail)

        async def work(runtime: Runtime) -> None:
            organisation_id = await runtime.organisation_id()
            await pause_customer(
                units_over(runtime.sessions),
                organisation_id=organisation_id,
                customer_ref=customer,
                actor=OPERATOR,
                until=last,
                today=await _today(runtime, organisation_id),
            )

        run_with_runtime(work)
        typer.echo(
            f"{customer.strip()}: no reminders up to and including {last.isoformat()}; "
            "they resume by themselves the day after."
        )

    @reminders_app.command("resume")
    def resume(customer: Annotated[str, typer.Argument(help=CUSTOMER_HELP)]) -> None:
        """End a customer's pause now."""

        async def work(runtime: Runtime) -> None:
            organisation_id = await runtime.organisation_id()
            await pause_customer(
                units_over(runtime.sessions),
                organisation_id=organisation_id,
                customer_ref=customer,
                actor=OPERATOR,
                until=None,
                today=await _today(runtime, organisation_id),
            )

        run_with_runtime(work)
        typer.echo(f"{customer.strip()}: reminders resume now.")


InvoiceUse = Callable[[UnitsOfWork, int, date], Awaitable[None]]  # units, organisation id, its local today


def _acting(run_with_runtime: RunWithRuntime) -> Callable[[InvoiceUse, str], None]:
    """Run one invoice's stop-rule use case; print `sentence` once it is stored (a refusal: one line, exit 1)."""

    def act(use: InvoiceUse, sentence: str) -> None:
        async def work(runtime: Runtime) -> None:
            organisation_id = await runtime.organisation_id()
            await use(units_over(runtime.sessions), organisation_id, await _today(runtime, organisation_id))

        run_with_runtime(work)
        typer.echo(sentence)

    return act


def _register_invoice_stops(reminders_app: typer.Typer, run_with_runtime: RunWithRuntime, fail: Fail) -> None:
    act = _acting(run_with_runtime)

    @reminders_app.command("promise")
    def promise(
        number: Annotated[str, typer.Argument(help="the invoice number")],
        until: Annotated[str, typer.Option("--until", help="the date the customer promised to pay by")] = "",
        withdraw: Annotated[bool, typer.Option("--withdraw", help="the promise no longer holds")] = False,
    ) -> None:
        """The customer promised to pay by --until: no reminder for the invoice until the day after.
        --withdraw: the promise no longer holds, reminders follow the ladder again."""
        if withdraw == bool(until.strip()):
            raise fail("Say either --until DATE (the promised date) or --withdraw (the promise no longer holds).", 2)
        last = None if withdraw else _until(until, fail)

        async def use(units: UnitsOfWork, organisation_id: int, today: date) -> None:
            await promise_to_pay(
                units, organisation_id=organisation_id, number=number, actor=OPERATOR, until=last, today=today
            )

        said = (
            f"promised by {last.isoformat()}; no reminder for it until the day after"
            if last
            else ("promise withdrawn; reminders follow the ladder again")
        )
        act(use, f"{number.strip()}: {said}.")

    @reminders_app.command("invoice")
    def invoice(
        number: Annotated[str, typer.Argument(help="the invoice number")],
        choice: Annotated[str, typer.Argument(help="on, off, or default (the rules decide)")],
    ) -> None:
        """Turn one invoice's reminders on (even one marked as sent manually), off, or back to the rules."""
        picked = choice.strip().lower()
        if picked not in CHOICES:
            raise fail(f"{choice!r} is not on, off or default.", 2)

        async def use(units: UnitsOfWork, organisation_id: int, _today: date) -> None:
            await set_invoice_reminders(
                units, organisation_id=organisation_id, number=number, actor=OPERATOR, on=CHOICES[picked]
            )

        act(use, f"{number.strip()}: {CHOICE_WORDS[picked]}.")


def _register_disputes(reminders_app: typer.Typer, run_with_runtime: RunWithRuntime) -> None:
    act = _acting(run_with_runtime)

    @reminders_app.command("dispute")
    def dispute(
        number: Annotated[str, typer.Argument(help="the invoice number")],
        reason: Annotated[str, typer.Option("--reason", help="the customer's reason, for the next person")],
    ) -> None:
        """The customer disputes the invoice: no reminder for it until `undispute`."""

        async def use(units: UnitsOfWork, organisation_id: int, _today: date) -> None:
            await mark_disputed(units, organisation_id=organisation_id, number=number, actor=OPERATOR, reason=reason)

        act(use, f"{number.strip()} is disputed: no reminder for it until `invoicebot reminders undispute`.")

    @reminders_app.command("undispute")
    def undispute(number: Annotated[str, typer.Argument(help="the invoice number")]) -> None:
        """The dispute is settled: the invoice climbs its ladder again."""

        async def use(units: UnitsOfWork, organisation_id: int, _today: date) -> None:
            await lift_dispute(units, organisation_id=organisation_id, number=number, actor=OPERATOR)

        act(use, f"{number.strip()} is no longer disputed: its reminders resume.")


def register(app: typer.Typer, run_with_runtime: RunWithRuntime, fail: Fail) -> None:
    """Adds these commands to the `reminders` group bot/cli_reminders.py registered on `app` (call after it)."""
    groups = [group.typer_instance for group in app.registered_groups if group.name == "reminders"]
    if not groups or groups[0] is None:
        raise RuntimeError("register the `reminders` group (bot/cli_reminders.py) before its rules")
    _register_ladder(groups[0], run_with_runtime, fail)
    _register_customer_stops(groups[0], run_with_runtime, fail)
    _register_invoice_stops(groups[0], run_with_runtime, fail)
    _register_disputes(groups[0], run_with_runtime)
