"""The long-running commands: `run`, `web`, `worker`, and `smtp verify`.

Kept apart from `bot/cli.py` (the data commands) so each stays small; `register` adds them
to the same Typer app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from email.message import EmailMessage
from typing import Annotated

import typer

from bot.bootstrap import Loop, bootstrap, smtp_transport
from bot.cli_schema import require_schema
from bot.config import Settings, SettingsError
from bot.doctor import smtp_session
from bot.loop_reports import HealthReporter
from bot.worker_process import install_stop_signals, run_worker
from services.authorization import OPERATOR
from services.db.models import utcnow
from services.email.addresses import normalise_email
from services.email.message import make_message_id, verp_address
from services.email.transport import Envelope, SendError
from services.email.verification import SmtpCheck, save_smtp_check
from services.errors import InvalidInput
from services.unit_of_work import units_over


def _logging() -> None:
    """One format for every line, ours and uvicorn's (bot/runner.py: `log_config=None`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic's "Context impl …" lines at each start say nothing; an upgrade is logged by require_schema
    logging.getLogger("alembic").setLevel(logging.WARNING)


def register(  # noqa: C901 — one closure per CLI command; issue 12 splits the CLI by command group
    app: typer.Typer, settings_or_exit: Callable[[], Settings], fail: Callable[..., typer.Exit]
) -> None:
    smtp_app = typer.Typer(help="The SMTP relay.", no_args_is_help=True)
    app.add_typer(smtp_app, name="smtp")

    def require_smtp(settings: Settings) -> None:
        if not settings.smtp_configured:
            raise fail("INVOICEBOT_SMTP_HOST is not set: sending is not configured", 2)

    @app.command("worker")
    def worker_command(
        until_idle: Annotated[bool, typer.Option(help="send what is due now, then exit")] = False,
    ) -> None:
        """Send queued deliveries (the worker half, for scaling out)."""
        settings = settings_or_exit()
        require_smtp(settings)
        _logging()
        require_schema(settings, fail, may_upgrade=True)

        async def main() -> int:
            loops = (
                [Loop.WORKER] if until_idle else [Loop.WORKER, Loop.BOUNCE_MAILBOX, Loop.UBL_VALIDATION, Loop.DIGEST]
            )
            runtime = bootstrap(settings, loops=loops)
            assert runtime.worker is not None  # SMTP is configured (checked above)
            stop = asyncio.Event()
            install_stop_signals(stop)
            try:
                if until_idle:
                    return await run_worker(runtime.worker, runtime.render_pool, stop=stop, until_idle=True)
                # `invoicebot worker` serves no HTTP: its loops' health goes to the database, where
                # the web process's /healthz and /metrics read it (bot/loop_reports.py)
                reporter = HealthReporter(
                    sessions=runtime.sessions,
                    health=runtime.health,
                    process=settings.process_name,
                    interval=settings.health_report_seconds,
                )
                others = [*runtime.loops(stop, with_worker=False), reporter.run(stop)]
                sent, *_ = await asyncio.gather(run_worker(runtime.worker, runtime.render_pool, stop=stop), *others)
                return sent or 0
            finally:
                await runtime.aclose()

        sent = asyncio.run(main())
        if until_idle:
            typer.echo(f"handled {sent} deliveries")

    def _serve(with_worker: bool) -> None:
        from bot.app import SlackNotConfigured
        from bot.runner import SLACK_NOT_CONFIGURED, serve
        from bot.slack_checks import SlackTokenRefused, check_slack_at_start

        settings = settings_or_exit()
        if settings.slack_bot_token is None or settings.slack_signing_secret is None:
            raise fail(SLACK_NOT_CONFIGURED, 2)  # before anything is built: nothing to clean up
        _logging()
        require_schema(settings, fail, may_upgrade=True)
        if not settings.notify_channel:
            logging.getLogger("invoicebot").warning(
                "INVOICEBOT_NOTIFY_CHANNEL is not set: delivery updates and bounce alerts will not be posted"
            )

        async def main() -> None:
            loops = [Loop.NOTIFIER]
            if with_worker:
                loops += [Loop.WORKER, Loop.BOUNCE_MAILBOX, Loop.UBL_VALIDATION, Loop.DIGEST]
            runtime = bootstrap(settings, loops=loops)  # /healthz reads what its loops report
            try:
                assert runtime.slack_app is not None  # both tokens are set (checked above)
                await check_slack_at_start(
                    runtime.slack_app.client, runtime.organisation_settings.channels, app_token=runtime.slack_app_token
                )
                await runtime.start()
                await serve(runtime)
            finally:
                await runtime.aclose()

        try:
            asyncio.run(main())
        except (SlackNotConfigured, SlackTokenRefused, SettingsError) as exc:
            raise fail(str(exc), 2) from None

    @app.command("run")
    def run_command() -> None:
        """The whole bot in one process: Slack app, web app, worker and loops."""
        _serve(with_worker=True)

    @app.command("web")
    def web_command() -> None:
        """The Slack app and the web app only (scale the worker separately)."""
        _serve(with_worker=False)

    @smtp_app.command("verify")
    def smtp_verify(
        send_test: Annotated[str | None, typer.Option(help="also send a test email to this address")] = None,
    ) -> None:
        """Connect, log in (when a username is set), optionally send a test email; record whether it worked."""
        settings = settings_or_exit()
        require_smtp(settings)
        require_schema(settings, fail)

        async def main() -> tuple[bool, str, str | None]:
            runtime = bootstrap(settings)
            async with runtime.session() as session:
                await runtime.organisations.organisation(session)  # the stored settings, not the env seed
            organisation_settings = runtime.organisation_settings
            transport = smtp_transport(settings)
            ok, reason, refused = True, smtp_session(settings), None
            smtputf8: bool | None = None
            try:
                smtputf8 = (await transport.verify()).smtputf8
                try:
                    test_to = normalise_email(send_test, smtputf8=smtputf8) if send_test else None
                except InvalidInput as exc:  # the settings work; the typed address is what is wrong
                    test_to, refused = None, str(exc)
                if test_to:
                    identity = organisation_settings.identity
                    message = EmailMessage()
                    message["From"] = identity.from_email
                    message["To"] = test_to
                    message["Subject"] = "invoicebot: test email"
                    message["Message-ID"] = make_message_id(organisation_settings.message_id_domain)
                    message.set_content("This test email shows that invoicebot can send through this server.\n")
                    envelope = Envelope(verp_address("test", identity.bounce_domain), [test_to])
                    result = await transport.send(envelope, message)
                    reason = f"test email accepted: {result.data_reply}"
            except SendError as exc:
                ok, reason = False, str(exc)
            finally:
                await transport.aclose()
            try:
                await save_smtp_check(
                    units_over(runtime.sessions),
                    organisation_id=await runtime.organisation_id(),
                    check=SmtpCheck(ok=ok, reason=reason, smtputf8=smtputf8),
                    actor=OPERATOR,
                    now=utcnow(),
                )
            finally:
                await runtime.aclose()
            return ok, reason, refused

        ok, reason, refused = asyncio.run(main())
        if refused:
            raise fail(f"SMTP settings verified, but no test email was sent: --send-test {refused}")
        if not ok:
            raise fail(f"SMTP settings do not work: {reason}")
        typer.echo(f"SMTP settings verified: {reason}")
