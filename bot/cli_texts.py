"""`invoicebot texts list|set|delete|default`: the preset email texts (services.email.email_texts).

The CLI acts as the operator (services.authorization.OPERATOR) and every change is audited.
A refusal (unknown language, a template that does not compile or names an unknown variable,
deleting Standard or a customer's default) is one sentence on stderr, exit code 2, nothing changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.bootstrap import Runtime
from services.authorization import OPERATOR
from services.email.email_texts import (
    STANDARD_TEXT,
    EmailTextEdit,
    PresetText,
    delete_email_text,
    list_email_texts,
    save_email_text,
    set_customer_default_text,
)
from services.errors import DomainError, FieldErrors
from services.unit_of_work import units_over

console = Console()
errors = Console(stderr=True, soft_wrap=True)
REFUSED = 2

Runner = Callable[[Callable[[Runtime], Awaitable[Any]]], Any]


def _refusal(error: DomainError) -> typer.Exit:
    fields = error.errors.items() if isinstance(error, FieldErrors) else ()
    lines = [f"{field}: {sentence}" for field, sentence in fields]
    errors.print(f"[red]refused:[/red] {' '.join(lines) or error} Nothing was changed.", highlight=False)
    return typer.Exit(REFUSED)


def _refusing(work: Callable[[Runtime], Coroutine[Any, Any, None]]) -> Callable[[Runtime], Awaitable[None]]:
    """`work` with its domain refusals turned into exit code 2 (the runner's own errors stay 1)."""

    async def refusing(runtime: Runtime) -> None:
        try:
            await work(runtime)
        except DomainError as error:
            raise _refusal(error) from None

    return refusing


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from None


def _print_texts(texts: list[PresetText]) -> None:
    table = Table(title=f"Email texts — {STANDARD_TEXT} (the template) and {len(texts)} preset(s)")
    for column in ("Name", "Language", "Subject", "Default for"):
        table.add_column(column)
    for text in texts:
        table.add_row(text.name, text.language, text.subject[:60], ", ".join(text.default_for))
    console.print(table)


def register(app: typer.Typer, run_with_runtime: Runner) -> None:
    texts_app = typer.Typer(help="Preset email texts chosen in the review modal.", no_args_is_help=True)
    app.add_typer(texts_app, name="texts")

    @texts_app.command("list")
    def texts_list() -> None:
        """The preset texts per language, and the customers whose default each is."""

        async def work(runtime: Runtime) -> None:
            async with runtime.session() as session:
                organisation = await runtime.organisations.organisation(session)
                texts = await list_email_texts(session, organisation_id=organisation.id)
            _print_texts(texts)

        run_with_runtime(work)

    @texts_app.command("set")
    def texts_set(
        name: Annotated[str, typer.Argument(help="the text's name, e.g. 'Friendly reminder'")],
        language: Annotated[str, typer.Option("--language", help="en, fr, de, nl, es or it")],
        subject: Annotated[str, typer.Option("--subject", help="the subject template (jinja2)")],
        message_file: Annotated[Path, typer.Option("--message-file", help="the message template (jinja2)")],
    ) -> None:
        """Add or replace a preset text in one language; a broken template is refused."""
        message = _read(message_file)

        async def work(runtime: Runtime) -> None:
            created = await save_email_text(
                units_over(runtime.sessions),
                organisation_id=await runtime.organisation_id(),
                edit=EmailTextEdit(name=name, language=language, subject=subject, message=message),
                actor=OPERATOR,
                rules=runtime.organisation_settings.rules,
            )
            console.print(f"the text “{name.strip()}” ({language}) is {'added' if created else 'replaced'}")

        run_with_runtime(_refusing(work))

    @texts_app.command("delete")
    def texts_delete(
        name: Annotated[str, typer.Argument(help="the text's name")],
        language: Annotated[str, typer.Option("--language", help="the language version to delete")],
    ) -> None:
        """Delete one language's version of a preset text (not Standard, not a customer's default)."""

        async def work(runtime: Runtime) -> None:
            await delete_email_text(
                units_over(runtime.sessions),
                organisation_id=await runtime.organisation_id(),
                name=name,
                language=language,
                actor=OPERATOR,
                rules=runtime.organisation_settings.rules,
            )
            console.print(f"the text “{name.strip()}” ({language}) is deleted")

        run_with_runtime(_refusing(work))

    @texts_app.command("default")
    def texts_default(
        customer: Annotated[str, typer.Argument(help="the customer's reference")],
        name: Annotated[str, typer.Argument(help=f"the text's name ({STANDARD_TEXT}: back to the template)")],
    ) -> None:
        """The text a customer's review starts with (a language without it uses Standard)."""

        async def work(runtime: Runtime) -> None:
            await set_customer_default_text(
                units_over(runtime.sessions),
                organisation_id=await runtime.organisation_id(),
                customer_ref=customer,
                name=name,
                actor=OPERATOR,
                rules=runtime.organisation_settings.rules,
            )
            console.print(f"{customer}'s reviews start with “{name.strip()}”")

        run_with_runtime(_refusing(work))
