"""`invoicebot reminders plan|run [--as-of DATETIME]`: the reminder schedule evaluated once, now or at another moment.

`plan` prints what would go out (customer, step, tone, invoices with what is owed and how late)
and what would be skipped and why, writing nothing. `run` produces the reminders due at that
moment, each invoice and step once however often or however many workers run it
(services/reminders/produce.py), queues their emails inside the send window (services/reminders/dispatch.py)
and prints what it queued, asked approval for or skipped and why.
`--as-of` follows the one rule of bot/cli_moments.py; the organisation is the one `--workspace`
chooses. `INVOICEBOT_REMINDER_MAX_LATENESS_DAYS` (default 7) is read here, once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from bot.bootstrap import Runtime
from bot.cli_moments import AS_OF_HELP, as_of_moment
from bot.config import Settings, verp_secret
from bot.reminders_loop import ReminderRound, Reminders, dispatch_words
from services.db.models import ReminderState
from services.invoicing.payments import money_words
from services.reminders.plan import PlannedInvoice, PlannedReminder, ReminderPlan, plan_reminders
from services.reminders.produce import Produced

RunWithRuntime = Callable[[Callable[[Runtime], Awaitable[Any]], Settings | None], Any]
Fail = Callable[[str, int], typer.Exit]


def _invoice_words(invoice: PlannedInvoice) -> str:
    if invoice.days_overdue > 0:
        when = f"{invoice.days_overdue} day{'s' if invoice.days_overdue != 1 else ''} overdue"
    elif invoice.days_overdue == 0:
        when = "due today"
    else:
        when = f"due in {-invoice.days_overdue} day{'s' if invoice.days_overdue != -1 else ''}"
    return f"{invoice.number} {money_words(invoice.outstanding, invoice.currency)} ({when})"


def reminder_lines(item: PlannedReminder) -> list[str]:
    """One reminder as the operator reads it: customer, step and tone, then each invoice it lists."""
    fee = f", fee line {item.step.fee}" if item.step.fee is not None else ""
    head = f"{item.customer_name} — step {item.step.offset_days:+d} days, {item.step.tone.value}{fee}"
    note = f" — {item.note}" if item.note else ""
    return [head + note] + [f"    {_invoice_words(invoice)}" for invoice in item.invoices]


def plan_words(plan: ReminderPlan) -> list[str]:
    queued = [item for item in plan.reminders if item.state == ReminderState.QUEUED]
    skipped = [item for item in plan.reminders if item.state == ReminderState.SKIPPED]
    if not plan.reminders:
        return [f"no reminder due on {plan.today.isoformat()}"]
    lines = [f"{len(queued)} reminder{'s' if len(queued) != 1 else ''} would go out on {plan.today.isoformat()}:"]
    lines += [f"  {line}" for item in queued for line in reminder_lines(item)]
    if skipped:
        lines.append(f"{len(skipped)} skipped (missed by too much after an outage, not sent late):")
        lines += [f"  {line}" for item in skipped for line in reminder_lines(item)]
    return lines


def produced_words(produced: Produced) -> list[str]:
    day = produced.plan.today.isoformat()
    if not produced.produced:
        return [f"no reminder to produce on {day} (none due, or already produced)"]
    invoices = sum(len(item.invoices) for item in produced.produced)
    lines = [
        f"{produced.queued} reminder{'s' if produced.queued != 1 else ''} queued and {produced.skipped} skipped "
        f"on {day}, for {invoices} invoice{'s' if invoices != 1 else ''}"
    ]
    caught_up = [item for item in produced.produced if item.state == ReminderState.QUEUED and item.note]
    if caught_up:
        lines.append(f"{len(caught_up)} of them catch up on a step reached while nothing ran")
    return lines


def register(
    app: typer.Typer, run_with_runtime: RunWithRuntime, settings_or_exit: Callable[[], Settings], fail: Fail
) -> None:
    reminders_app = typer.Typer(help="Reminder ladders: what is due, and producing it once.", no_args_is_help=True)
    app.add_typer(reminders_app, name="reminders")

    @reminders_app.command("plan")
    def reminders_plan(as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None) -> None:
        """Print the reminders due at this moment (now by default) and those skipped, writing nothing."""
        moment = as_of_moment(as_of, fail)
        settings = settings_or_exit()

        async def work(runtime: Runtime) -> ReminderPlan:
            organisation_id = await runtime.organisation_id()
            async with runtime.session() as session:
                return await plan_reminders(
                    session,
                    organisation_id=organisation_id,
                    moment=moment,
                    max_lateness_days=settings.reminder_max_lateness_days,
                )

        for line in plan_words(run_with_runtime(work, settings)):
            typer.echo(line)

    @reminders_app.command("run")
    def reminders_run(as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None) -> None:
        """Produce the reminders due at this moment (now by default), each invoice and step once, and queue
        their emails inside the send window (the worker sends them)."""
        moment = as_of_moment(as_of, fail)
        settings = settings_or_exit()

        secret = verp_secret(settings)  # the worker's key: the emails' VERP tokens must verify there

        async def work(runtime: Runtime) -> ReminderRound:
            organisation_id = await runtime.organisation_id()
            lateness = settings.reminder_max_lateness_days
            reminders = Reminders(runtime.sessions, runtime.organisations, secret, lateness)
            return (await reminders.evaluate(moment, [organisation_id]))[0]

        done = run_with_runtime(work, settings)
        for line in produced_words(done.produced) + dispatch_words(done.dispatched):
            typer.echo(line)
