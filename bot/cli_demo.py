"""`invoicebot demo`: try the whole story on 127.0.0.1 with no Slack workspace and nothing to configure.

The demo builds its own settings (bot.sandbox.demo) and ignores the environment and `.env`,
so `settings_or_exit` is not used: a broken `DATABASE_URL` must not stop a first try.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.config import Settings


def register(app: typer.Typer, settings_or_exit: Callable[[], Settings], fail: Callable[..., typer.Exit]) -> None:
    @app.command("demo")
    def demo_command(
        script: Annotated[
            Path | None, typer.Option(help="run console inputs from this file (format in the README), then exit")
        ] = None,
        mail_dir: Annotated[
            Path | None,
            typer.Option(
                help="an empty or new folder for this run's emails (.eml) and bounces; "
                "default: a new dated folder under ./demo-mail/"
            ),
        ] = None,
        socket_mode: Annotated[
            bool, typer.Option(help="Slack's requests reach the app over Socket Mode (a WebSocket), not HTTP")
        ] = False,
    ) -> None:
        """Everything on 127.0.0.1: a Slack stand-in and console, the real app, a local SMTP server that bounces."""
        from bot.sandbox.demo_run import MailFolderRefused, demo_mail_folder, run_demo

        if script is not None and not script.is_file():
            raise fail(f"--script {script}: no such file", 2)
        lines = script.read_text(encoding="utf-8").splitlines() if script is not None else None
        try:
            folder = demo_mail_folder(mail_dir, now=datetime.now().astimezone())
        except MailFolderRefused as refused:
            raise fail(str(refused), 2) from None
        files_from = script.resolve().parent if script is not None else None
        code = asyncio.run(run_demo(mail_dir=folder, script=lines, socket_mode=socket_mode, files_from=files_from))
        if code:
            raise typer.Exit(code)
