"""The long-running commands: `run`, `web`, `worker`, and `smtp verify`.

Kept apart from `bot/cli.py` (the data commands) so each stays small; `register` adds them
to the same Typer app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from email.message import EmailMessage
from typing import Annotated, Any

import typer

from bot.bounce_mailbox import bounce_loop
from bot.config import Settings
from bot.container import Container
from bot.loop_health import LoopHealth
from bot.ubl_validator import UblValidator
from bot.worker_process import build_worker, install_stop_signals, make_render_pool, run_worker
from services.addresses import normalise_email
from services.authorization import OPERATOR
from services.db.models import utcnow
from services.email.message import make_message_id, verp_address
from services.email.transport import Envelope, SendError
from services.errors import InvalidInput
from services.smtp_verification import record_smtp_check


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _ubl_validator(container: Container, health: LoopHealth) -> UblValidator:
    """The loop that checks e-invoices before the worker sends them (bot/ubl_validator.py)."""
    return UblValidator(
        sessions=container.sessions,
        public_url=container.sender_identity().public_url,  # the worker's: the digests must agree
        heartbeat=health.loop("ubl validation"),
    )


# C901 waived: the count is the sum of the typer commands defined inside (closures over the settings);
# each command is small. The composition root of issue 12 item 4 replaces this registrar.
def register(  # noqa: C901
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

        async def main() -> int:
            container = Container.build(settings)
            stop = asyncio.Event()
            install_stop_signals(stop)
            try:
                if until_idle:
                    return await run_worker(container, stop=stop, until_idle=True)
                # `invoicebot worker` serves no HTTP: its loops report to a registry only its log reads
                health = LoopHealth(stall_after=settings.health_stall_seconds)
                sent: int
                sent, _, _ = await asyncio.gather(
                    run_worker(container, stop=stop, heartbeat=health.loop("worker", reports_each_round=True)),
                    bounce_loop(container, stop, health.loop("bounce mailbox")),
                    _ubl_validator(container, health).run(stop),
                )
                return sent
            finally:
                await container.close()

        sent = asyncio.run(main())
        if until_idle:
            typer.echo(f"handled {sent} deliveries")

    def _serve(with_worker: bool) -> None:
        from bot.app import SlackNotConfigured
        from bot.runner import serve

        settings = settings_or_exit()
        _logging()

        async def main() -> None:
            container = Container.build(settings)
            health = LoopHealth(stall_after=settings.health_stall_seconds)  # /healthz reads what the loops report
            loops: list[Any] = []
            stop = asyncio.Event()
            render_pool = None
            if with_worker and settings.smtp_configured:
                render_pool = make_render_pool(settings.render_processes) if settings.render_processes else None
                worker = build_worker(container, render_pool, health.loop("worker", reports_each_round=True))
                loops.append(worker.run(stop))
            elif with_worker:
                logging.getLogger("invoicebot").warning("INVOICEBOT_SMTP_HOST is not set: no emails will be sent")
            if with_worker:
                loops.append(bounce_loop(container, stop, health.loop("bounce mailbox")))
                loops.append(_ubl_validator(container, health).run(stop))
            if settings.slack_bot_token is not None:
                from bot.notifier import notifier_loop

                loops.append(notifier_loop(container, health=health))
            try:
                if render_pool is not None:
                    await render_pool.start()
                async with container.session() as session:
                    await container.organisation(session)
                await serve(container, loops=loops, health=health)
            finally:
                stop.set()
                if render_pool is not None:
                    await render_pool.aclose()
                await container.close()

        try:
            asyncio.run(main())
        except SlackNotConfigured as exc:
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
        """Connect, log in and optionally send a test email; record whether the settings work."""
        settings = settings_or_exit()
        require_smtp(settings)

        async def main() -> tuple[bool, str, str | None]:
            container = Container.build(settings)
            transport = container.build_transport()
            ok, reason, refused = True, "connected and logged in", None
            smtputf8: bool | None = None
            try:
                smtputf8 = (await transport.verify()).smtputf8
                try:
                    test_to = normalise_email(send_test, smtputf8=smtputf8) if send_test else None
                except InvalidInput as exc:  # the settings work; the typed address is what is wrong
                    test_to, refused = None, str(exc)
                if test_to:
                    identity = container.sender_identity()
                    message = EmailMessage()
                    message["From"] = identity.from_email
                    message["To"] = test_to
                    message["Subject"] = "invoicebot: test email"
                    message["Message-ID"] = make_message_id(container.message_id_domain)
                    message.set_content("This test email shows that invoicebot can send through this server.\n")
                    envelope = Envelope(verp_address("test", identity.bounce_domain), [test_to])
                    result = await transport.send(envelope, message)
                    reason = f"test email accepted: {result.data_reply}"
            except SendError as exc:
                ok, reason = False, str(exc)
            finally:
                await transport.aclose()
            try:
                async with container.session() as session:
                    organisation = await container.organisation(session)
                    await record_smtp_check(
                        session, organisation_id=organisation.id, ok=ok, reason=reason, actor=OPERATOR, now=utcnow(),
                        smtputf8=smtputf8,
                    )  # fmt: skip
                    await session.commit()
            finally:
                await container.close()
            return ok, reason, refused

        ok, reason, refused = asyncio.run(main())
        if refused:
            raise fail(f"SMTP settings verified, but no test email was sent: --send-test {refused}")
        if not ok:
            raise fail(f"SMTP settings do not work: {reason}")
        typer.echo(f"SMTP settings verified: {reason}")
