"""`invoicebot demo`: the whole bot on 127.0.0.1 with no Slack workspace, no SMTP account, no settings.

What runs, all in this process except the PDF renderer's one worker process:
- a fresh SQLite database in a temporary folder, migrated and seeded (SMTP marked verified);
- the real web app (Bolt in HTTP mode under uvicorn) on a free port, the real send worker,
  the real Slack notifier loop and the real bounce mailbox loop;
- the Slack stand-in the tests use (`FakeSlackApi`), which keeps the channel and the modals;
- the scripted SMTP server, writing one `.eml` per accepted email into the mail folder and,
  for the demo's bad addresses (`*@bounce.example`, `*@mailbox-full.example`), writing an
  RFC 3464 report to the email's VERP return path into the bounce folder the loop reads.
Settings are built here from constants only: the user's environment and `.env` are ignored,
so the demo can never touch a real database, workspace or relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.bootstrap import Loop, Runtime, Seams, bootstrap
from bot.config import Settings
from bot.reminders_loop import Reminders
from bot.runner import connect_socket_mode, web_server
from bot.sandbox.dsn import BounceRule, Relay, build_dsn
from bot.sandbox.folder_mailbox import FolderMailbox
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackRequests, SlackUserRef
from bot.sandbox.slack_socket import FakeSocketMode, SocketRequestClient
from bot.sandbox.smtp_server import ScriptedSmtpServer, ServerOptions
from bot.worker_process import make_render_pool
from services.db.migrate import upgrade
from services.invoicing.seed import run_seed
from services.sending.render_pool import RenderPool
from services.unit_of_work import UnitsOfWork, units_over

log = logging.getLogger("invoicebot.demo")

CHANNEL = "C0FINANCE"
CHANNEL_NAME = "finance"
TEAM_ID = "T0DEMO"
USERS = {
    "alice": SlackUserRef(id="U0ALICE", team_id=TEAM_ID, name="alice"),
    "bob": SlackUserRef(id="U0BOB", team_id=TEAM_ID, name="bob"),
}
BOUNCE_DELAY_SECONDS = 1.0  # a real report arrives a moment after the relay accepted the email
BOUNCE_RULES = {
    "bounce.example": BounceRule("5.1.1", "550 5.1.1 <{address}>: Recipient address rejected: User unknown"),
    "mailbox-full.example": BounceRule("5.2.2", "552 5.2.2 <{address}>: Mailbox full, quota exceeded"),
}
STOP_TIMEOUT_SECONDS = 10.0


class DemoSettings(Settings):
    """The demo's settings come from the constructor only: no environment, no `.env`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass
class DemoSlackApi(FakeSlackApi):
    """The tests' Slack stand-in, also remembering which message each reply is threaded under."""

    threads: dict[str, str] = field(default_factory=dict)  # reply ts → parent ts

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        answer = super()._chat_postMessage(args)
        if args.get("thread_ts"):
            self.threads[str(answer["ts"])] = str(args["thread_ts"])
        return answer


class BouncingSmtpServer(ScriptedSmtpServer):
    """Accepts every email; for an address in `BOUNCE_RULES` also writes the report that comes back."""

    def __init__(self, *, bounces: FolderMailbox, **options: Any) -> None:
        super().__init__(**options)
        self.bounces = bounces

    def record(self, envelope: Any, connection: int) -> str:
        queue_id = super().record(envelope, connection)
        data = envelope.original_content or envelope.content or b""
        original = data if isinstance(data, bytes) else data.encode()
        for recipient in envelope.rcpt_tos:
            rule = BOUNCE_RULES.get(recipient.rpartition("@")[2].lower())
            if rule is None or not envelope.mail_from:
                continue
            bounce = BounceRule(rule.status, rule.diagnostic.format(address=recipient))
            loop = asyncio.get_running_loop()
            loop.call_later(BOUNCE_DELAY_SECONDS, self._bounce, original, envelope.mail_from, recipient, bounce)
        return queue_id

    def _bounce(self, original: bytes, return_path: str, recipient: str, rule: BounceRule) -> None:
        now = datetime.now(UTC)
        given_up = now.replace(microsecond=0) + timedelta(seconds=1)  # Date has whole seconds: round up
        report = build_dsn(
            original=original,
            return_path=return_path,
            recipient=recipient,
            rule=rule,
            relay=Relay(
                hostname=self.hostname, arrived=now - timedelta(seconds=BOUNCE_DELAY_SECONDS), gave_up=given_up
            ),
        )
        self.bounces.deliver(report)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(False)
    return sock


async def _serve_web(server: uvicorn.Server, sock: socket.socket) -> None:
    """uvicorn's `serve` without its signal capture: the demo owns Ctrl-C and stops the server itself."""
    config = server.config
    if not config.loaded:
        config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    if not server.should_exit:
        await server.main_loop()
    if server.started:
        await server.shutdown(sockets=[sock])


@dataclass
class Demo:
    """Start with `await demo.start()`, stop with `await demo.stop()` (idempotent, bounded in time)."""

    mail_dir: Path
    work_dir: Path | None = None
    slack: DemoSlackApi = field(default_factory=lambda: DemoSlackApi(team_id=TEAM_ID, team_name="Demo Trading"))
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    bot_token: str = field(default_factory=lambda: "xoxb-demo-" + secrets.token_hex(8))
    socket_mode: bool = False  # Slack's requests over a Socket Mode WebSocket instead of HTTP POSTs
    ports: dict[str, int] = field(default_factory=dict)
    requests: SlackRequests | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _temporary: tempfile.TemporaryDirectory[str] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    render_pool: RenderPool | None = None
    digest_units: UnitsOfWork | None = None  # the console's `digest` evaluates the schedule over these
    # The console's `reminders [in N days]` evaluates the reminder schedule at a chosen moment; the
    # demo runs no reminder loop of its own, so nothing is reminded until someone asks.
    reminders: Reminders | None = None

    @property
    def bounces(self) -> FolderMailbox:
        return FolderMailbox(self.mail_dir / "bounces")

    def settings(self, *, database_url: str, smtp_port: int, web_port: int, work: Path) -> Settings:
        everyone = ",".join(user.id for user in USERS.values())
        socket_mode = self.slack.socket_mode
        return DemoSettings(
            SLACK_APP_TOKEN=socket_mode.app_token if socket_mode is not None else None,
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=self.bot_token,
            SLACK_SIGNING_SECRET=self.signing_secret,
            INVOICEBOT_SLACK_API_URL=self.slack.base_url,
            INVOICEBOT_NOTIFY_CHANNEL=CHANNEL,
            INVOICEBOT_APPROVERS_CHANNEL=CHANNEL,
            INVOICEBOT_APPROVAL_POLICY="always",
            INVOICEBOT_APPROVERS=everyone,
            INVOICEBOT_ADMINS=everyone,
            INVOICEBOT_HTTP_HOST="127.0.0.1",
            INVOICEBOT_HTTP_PORT=web_port,
            INVOICEBOT_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
            INVOICEBOT_SMTP_HOST="127.0.0.1",
            INVOICEBOT_SMTP_PORT=smtp_port,
            INVOICEBOT_SMTP_SECURITY="none",
            INVOICEBOT_SENDER_EMAIL="invoices@example.com",
            # a payable invoice: the PDF, email and link page show the account; EUR ones carry the EPC QR code
            INVOICEBOT_ORG_IBAN="GB82 WEST 1234 5698 7654 32",
            INVOICEBOT_ORG_BIC="NWBKGB2L",
            INVOICEBOT_ORG_ACCOUNT_HOLDER="Example Trading Ltd",
            INVOICEBOT_SECRET_KEY=secrets.token_urlsafe(24),
            INVOICEBOT_SECRET_KEY_FILE=str(work / "secret"),
            INVOICEBOT_RENDER_PROCESSES=1,
            INVOICEBOT_WORKER_CONCURRENCY=4,
            INVOICEBOT_RETRY_BASE_SECONDS=2,
            INVOICEBOT_SEND_WINDOW="every day 00:00-24:00",  # the demo's chosen moments are any day, any hour
            INVOICEBOT_DIGEST_HOUR=0,  # the daily digest is due from midnight: the console's `digest` posts today's
        )

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        if self.work_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="invoicebot-demo-")
            self.work_dir = Path(self._temporary.name)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        bounces = self.bounces.create()
        self.render_pool = make_render_pool(1)  # its child ignores Ctrl-C: the demo stops it itself
        await self.render_pool.start()

        if self.socket_mode:
            self.slack.socket_mode = FakeSocketMode(app_token="xapp-1-A0DEMO-" + secrets.token_hex(8))
        await self.slack.start()
        self._stack.push_async_callback(self.slack.stop)
        for name, user in USERS.items():
            self.slack.add_user(user.id, email=f"{name}@example.com", team_id=TEAM_ID, name=name)
        self.slack.add_channel(CHANNEL, "invoices")  # invited: the settings modal checks it
        smtp = BouncingSmtpServer(bounces=bounces, options=ServerOptions(eml_dir=self.mail_dir))
        await smtp.start()
        self._stack.push_async_callback(smtp.stop)
        web_socket = _free_socket()
        self._stack.callback(web_socket.close)
        web_port = int(web_socket.getsockname()[1])
        self.ports = {"web": web_port, "smtp": smtp.port, "slack": int(self.slack.base_url.split(":")[2].split("/")[0])}

        database_url = f"sqlite:///{self.work_dir / 'demo.db'}"
        await asyncio.to_thread(upgrade, database_url)
        settings = self.settings(database_url=database_url, smtp_port=smtp.port, web_port=web_port, work=self.work_dir)
        loops = [Loop.WORKER, Loop.NOTIFIER, Loop.BOUNCE_MAILBOX]
        runtime = bootstrap(settings, loops=loops, seams=Seams(mailbox=bounces, render_pool=self.render_pool))
        self._stack.push_async_callback(runtime.aclose)
        self.digest_units = units_over(runtime.sessions)
        if runtime.reminders is not None:
            self.reminders, runtime.reminders = runtime.reminders.reminders, None
        await run_seed(
            units_over(runtime.sessions),
            organisation_id=await runtime.organisation_id(),
            today=datetime.now(UTC).date(),
            smtp_verified=True,
        )

        server = web_server(runtime, host="127.0.0.1", port=web_port, log_level="warning")
        web_task = asyncio.create_task(_serve_web(server, web_socket))

        async def stop_web() -> None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(web_task, timeout=STOP_TIMEOUT_SECONDS)

        self._stack.push_async_callback(stop_web)
        await self._wait_started(server, web_task)

        worker, notifier, mailbox = runtime.worker, runtime.notifier, runtime.bounce_mailbox
        assert worker is not None and notifier is not None and mailbox is not None
        worker.poll_interval, notifier.poll_interval, mailbox.poll_interval = 0.3, 0.3, 0.5
        tasks = [asyncio.create_task(loop) for loop in runtime.loops(self._stop)]

        async def stop_loops() -> None:
            self._stop.set()
            _done, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._stack.push_async_callback(stop_loops)
        http = httpx.AsyncClient(timeout=15)
        self._stack.push_async_callback(http.aclose)
        if self.slack.socket_mode is not None:
            await self._connect_socket_mode(runtime, self.slack.socket_mode)
            return
        self.requests = SlackRequestClient(
            events_url=f"http://127.0.0.1:{web_port}/slack/events", signing_secret=self.signing_secret, http=http
        )

    async def _connect_socket_mode(self, runtime: Runtime, socket_mode: FakeSocketMode) -> None:
        """The app opens its WebSocket as `invoicebot run` does; the console's requests become envelopes."""
        handler = await connect_socket_mode(runtime)
        assert handler is not None  # the settings carry the app token
        self._stack.push_async_callback(handler.close_async)
        await socket_mode.wait_until(lambda: socket_mode.connections >= 1, within=10)
        self.requests = SocketRequestClient(socket_mode)

    async def _wait_started(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        for _ in range(1000):  # 10 s at most
            if server.started:
                return
            if task.done():
                task.result()
                break
            await asyncio.sleep(0.01)
        raise RuntimeError("the demo's web app did not start")

    def render_pids(self) -> list[int]:
        return self.render_pool.pids if self.render_pool is not None else []

    async def stop(self) -> None:
        """Stop the loops, the web app, the SMTP server, the Slack stand-in and the render process."""
        await self._stack.aclose()
        if self.render_pool is not None:
            await self.render_pool.aclose()
            self.render_pool = None
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
