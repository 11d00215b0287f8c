"""Admin commands: the suppression list and the organisation's email templates.

The CLI is run by whoever operates the installation, so it acts as the operator
(services.authorization.OPERATOR, audited as `cli`) and may do everything; every change is
audited like one made from Slack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.bootstrap import Runtime
from services.authorization import OPERATOR
from services.db.models import utcnow
from services.email.template_overrides import TemplateEdit, save_template
from services.formatting import format_day
from services.invoicing.organisations import organisation_locale
from services.tracking.suppression import lift_address, list_suppressions
from services.unit_of_work import units_over

console = Console()


def register(app: typer.Typer, run_with_runtime: Callable[[Callable[[Runtime], Awaitable[Any]]], Any]) -> None:
    suppressions_app = typer.Typer(help="Addresses not sent to (hard bounces, complaints).", no_args_is_help=True)
    templates_app = typer.Typer(help="The organisation's own email wording.", no_args_is_help=True)
    app.add_typer(suppressions_app, name="suppressions")
    app.add_typer(templates_app, name="templates")

    @suppressions_app.command("list")
    def suppressions_list(
        lifted: Annotated[bool, typer.Option(help="also show addresses taken off the list")] = False,
    ) -> None:
        """The suppressed addresses, newest first, with why."""

        async def work(runtime: Runtime) -> None:
            async with runtime.session() as session:
                organisation = await runtime.organisations.organisation(session)
                entries = await list_suppressions(session, organisation_id=organisation.id, include_lifted=lifted)
                locale = organisation_locale(organisation)
            table = Table(title=f"Suppression list — {len(entries)} address(es)")
            for column in ("Address", "Why", "Since", "Detail", "Lifted"):
                table.add_column(column)
            for entry in entries:
                lifted_text = (
                    f"{format_day(entry.lifted_at.date(), locale)} by {entry.lifted_by}" if entry.lifted_at else ""
                )
                since = format_day(entry.since.date(), locale)
                table.add_row(entry.email, entry.reason, since, (entry.detail or "")[:80], lifted_text)
            console.print(table)

        run_with_runtime(work)

    @suppressions_app.command("lift")
    def suppressions_lift(email: str) -> None:
        """Take an address off the list (audited), so invoices can be sent to it again."""

        async def work(runtime: Runtime) -> None:
            await lift_address(
                units_over(runtime.sessions),
                organisation_id=await runtime.organisation_id(),
                email=email,
                actor=OPERATOR,
                rules=runtime.organisation_settings.rules,
                now=utcnow(),
            )
            console.print(f"{email} is off the suppression list")

        run_with_runtime(work)

    @templates_app.command("set")
    def templates_set(
        language: Annotated[str, typer.Argument(help="en, fr, de, nl, es or it")],
        part: Annotated[str, typer.Argument(help="subject, text or html")],
        file: Annotated[Path, typer.Argument(help="the template (jinja2; variables in the README)")],
    ) -> None:
        """Use your own wording for one part of the invoice email; a broken template is refused."""
        try:
            source = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc}") from None

        async def work(runtime: Runtime) -> None:
            await save_template(
                units_over(runtime.sessions),
                organisation_id=await runtime.organisation_id(),
                edit=TemplateEdit(language=language, part=part, source=source),
                actor=OPERATOR,
                rules=runtime.organisation_settings.rules,
            )
            console.print(f"the {part} template for {language} is saved")

        run_with_runtime(work)
