"""`invoicebot doctor`: the checklist of bot/doctor.py printed as ✓/✗ lines, a fix under each failure."""

from __future__ import annotations

import asyncio

import typer

from bot.config import SettingsError, load_settings
from services.checks import Check


def print_check(check: Check) -> None:
    mark = "✓" if check.ok else "✗"
    typer.echo(f"{mark} {check.title}" + (f" — {check.detail}" if check.detail else ""))
    if not check.ok and check.fix:
        typer.echo(f"    fix: {check.fix}")


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_command() -> None:
        """Check settings, database, Slack, SMTP, the bounce mailbox, the public URL and the sender
        domain's SPF/DKIM/DMARC; exit 0 only when everything passes."""
        from bot.doctor import run_doctor

        try:
            settings = load_settings()
        except SettingsError as exc:
            print_check(Check("Settings", False, str(exc), "correct it in the environment or in .env"))
            raise typer.Exit(1) from None
        print_check(Check("Settings", True, "parsed"))
        checks = asyncio.run(run_doctor(settings))
        for check in checks:
            print_check(check)
        failures = sum(not check.ok for check in checks)
        typer.echo(f"{failures} problem(s) to fix" if failures else "all checks passed")
        if failures:
            raise typer.Exit(1)
