"""The composition root: `bootstrap(settings)` builds the process once and hands each part what it needs.

Settings and secrets are read here and nowhere after: the web app, the Slack app, the worker, the notifier,
the bounce mailbox loop, the UBL validator loop and the event filer are built from plain values (a session
factory, the VERP secret as bytes, an organisation's settings) and never see `Settings`. The VERP secret is
read once (from the setting, or the 0600 key file created on first start), not on each link-page request.

Which loops a process runs is the caller's choice (`loops=`): a loop is built, and its heartbeat registered
with `/healthz`, only when the process will run it. An organisation's roles, channels and sender identity
come from an `OrganisationDirectory` (bot/organisation_settings.py), read from the database and seeded once
from the environment, so a per-workspace directory can replace the single one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from bot.app import ListenerNeeds, create_slack_app
from bot.audit_sealer import run_audit_sealer
from bot.autosend_loop import Autosend, AutosendLoop
from bot.bounce_mailbox import BounceMailbox, MailboxPolling
from bot.config import Settings, verp_secret
from bot.digest_loop import DigestLoop
from bot.email_retention import EmailRetention
from bot.home_refresh import HomeRefresh, home_refresher
from bot.imap_mailbox import ImapMailbox
from bot.loop_health import Heartbeat, LoopHealth
from bot.mailbox_port import Mailbox
from bot.notifier import Notifier, PostRouting, notifier_client
from bot.organisation_settings import OrganisationDirectory, OrganisationSettings, SettingsDirectory, settings_directory
from bot.reminders_loop import Reminders, RemindersLoop
from bot.silent_alerts import CHECK_EVERY_SECONDS, SilentAlerts, silent_route
from bot.ubl_validator import UblValidator
from bot.web import create_web_app, install_routes
from bot.webhook_wiring import webhook_providers
from bot.worker import Worker, WorkerParts, WorkerTuning
from bot.worker_process import make_render_pool
from bot.workspace_tokens import WorkspaceTokens
from bot.workspaces import OAuthConfig, OAuthWiring, oauth_wiring, register_uninstall_listeners
from handlers.home_refresh import HomeViewers
from services.clock import utcnow
from services.db.engine import create_engine, session_factory
from services.documents.cache import DocumentCache
from services.email.smtp import SmtpRelay, SmtpTransport
from services.email.transport import Transport
from services.sending.queue import RetryPolicy
from services.sending.render_pool import RenderPool
from services.tracking.filer import EventFiler
from services.tracking.page_views import ViewRules
from services.tracking.webhooks import sns
from services.tracking.webhooks.replay import ReplayGuard
from services.unit_of_work import units_over
from web.fleet_health import OtherProcesses
from web.invoice_pages import InvoicePages, LinkPolicy, invoice_page_routes
from web.metrics import metrics_routes
from web.sent_emails import SentEmailDownloads, sent_email_routes
from web.view_recorder import ViewRecorder
from web.webhooks.endpoint import WebhookEndpoint, webhook_routes
from web.webhooks.providers import fetch_from_aws

log = logging.getLogger("invoicebot")


class Loop(StrEnum):
    """The background loops a process may run; the value is the name /healthz shows."""

    WORKER = "worker"
    BOUNCE_MAILBOX = "bounce mailbox"
    UBL_VALIDATION = "ubl validation"
    NOTIFIER = "Slack notifier"
    AUDIT_SEALER = "audit sealer"  # beside each worker (bot/audit_sealer.py)
    SILENT_ALERTS = "silent-email alerts"  # beside each worker (bot/silent_alerts.py)
    DIGEST = "daily digest"
    AUTOSEND = "autosend"  # beside each worker (bot/autosend_loop.py)
    REMINDERS = "reminders"  # beside each worker (bot/reminders_loop.py)
    EMAIL_RETENTION = "email retention"  # beside each worker (bot/email_retention.py)


@dataclass(frozen=True)
class Seams:
    """What tests and the demo replace: the listeners' day, how SNS certificates are fetched and
    trusted, the bounce mailbox (the demo's folder instead of IMAP), an already started render pool."""

    today: Callable[[], date] | None = None  # None: each organisation's local date now (its time zone)
    now: Callable[[], datetime] = utcnow  # the clock that local date and App Home's day roll-over are read from
    sns_fetch: sns.Fetch = fetch_from_aws
    sns_trusts_url: Callable[[str], bool] = sns.is_aws_sns_url
    mailbox: Mailbox | None = None
    render_pool: RenderPool | None = None


@dataclass(frozen=True)
class HttpServing:
    host: str
    port: int
    trusted_proxies: tuple[str, ...] = ()


@dataclass
class Runtime:
    """Everything this process runs, built by `bootstrap`; `aclose` releases it."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    organisations: OrganisationDirectory
    health: LoopHealth
    others: OtherProcesses  # the loops other processes (a separate worker) report
    http: HttpServing
    web_app: Starlette
    document_cache: DocumentCache
    view_recorder: ViewRecorder
    event_filer: EventFiler
    slack_app: AsyncApp | None = None
    slack_app_token: str | None = field(default=None, repr=False)  # Socket Mode when set
    worker: Worker | None = None
    render_pool: RenderPool | None = None
    notifier: Notifier | None = None
    bounce_mailbox: BounceMailbox | None = None
    bounce_heartbeat: Heartbeat | None = None
    ubl_validator: UblValidator | None = None
    audit_heartbeat: Heartbeat | None = None  # the audit sealer's, set with the worker
    silent_alerts: SilentAlerts | None = None
    workspace_tokens: WorkspaceTokens | None = None  # multi-workspace: each organisation's bot token
    home_viewers: HomeViewers | None = None  # App Homes republished after this process's notifier posts
    digest: DigestLoop | None = None
    autosend: AutosendLoop | None = None
    reminders: RemindersLoop | None = None
    email_retention: EmailRetention | None = None

    @property
    def organisation_settings(self) -> OrganisationSettings:
        """As last read from the database (`organisations.organisation(session)` refreshes it)."""
        return self.organisations.settings_for()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def organisation_id(self) -> int:
        """The organisation's id, its row adopted first (committed by the directory): what a use case takes."""
        async with self.sessions() as session:
            return (await self.organisations.organisation(session)).id

    def loops(self, stop: asyncio.Event, *, with_worker: bool = True) -> list[Coroutine[Any, Any, None]]:
        """The coroutines of the loops this runtime was built with, each running until `stop` is set
        (`with_worker=False`: all but the worker, which `invoicebot worker` runs itself)."""
        running: list[Coroutine[Any, Any, None]] = []
        if self.worker is not None and with_worker:
            running.append(self.worker.run(stop))
        if self.audit_heartbeat is not None:  # each worker process seals the audit log (bot/audit_sealer.py)
            running.append(run_audit_sealer(self.sessions, stop, self.audit_heartbeat))
        if self.silent_alerts is not None:
            running.append(self.silent_alerts.run(stop))
        if self.bounce_mailbox is not None:
            running.append(self.bounce_mailbox.run(stop, self.bounce_heartbeat))
        if self.ubl_validator is not None:
            running.append(self.ubl_validator.run(stop))
        if self.notifier is not None:
            running.append(self.notifier.run(stop))
            if self.home_viewers is not None:
                running.append(self.home_viewers.run(stop))
        if self.digest is not None:
            running.append(self.digest.run(stop))
        running += [loop.run(stop) for loop in (self.autosend, self.reminders, self.email_retention) if loop]
        return running

    async def start(self) -> None:
        """Adopt (or create) the organisation's row and start the render processes, before serving."""
        async with self.session() as session:
            await self.organisations.organisation(session)
        if self.render_pool is not None:
            await self.render_pool.start()  # a broken installation fails here, not at the first invoice

    async def aclose(self) -> None:
        await self.view_recorder.aclose()
        if self.worker is not None:
            await self.worker.transport.aclose()
        if self.render_pool is not None:
            await self.render_pool.aclose()
        await self.engine.dispose()


def smtp_transport(settings: Settings) -> Transport:
    """The SMTP relay of the settings. ValueError when sending is not configured."""
    if not settings.smtp_host:
        raise ValueError("INVOICEBOT_SMTP_HOST is not set: sending is not configured")
    default_port = {"tls": 465, "starttls": 587, "none": 25}[settings.smtp_security.value]
    return SmtpTransport(
        relay=SmtpRelay(
            host=settings.smtp_host,
            port=settings.smtp_port or default_port,
            security=settings.smtp_security.value,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        ),
        timeout=settings.smtp_timeout,
        pool_size=min(4, max(1, settings.worker_concurrency // 2)),
    )


def bootstrap(settings: Settings, *, loops: Collection[Loop] = (), seams: Seams = Seams()) -> Runtime:
    """Build the runtime: always the database, the web app and the Slack app (when Slack is set up);
    of the loops, those in `loops` that are configured (no SMTP: no worker; no bot token: no notifier)."""
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    # The organisation's settings live in the database; the environment seeds them on first start.
    # Installable in many workspaces (issue 17): one organisation per team, each with its own row.
    organisations = settings_directory(settings)
    secret = verp_secret(settings)
    health = LoopHealth(stall_after=settings.health_stall_seconds)
    others = OtherProcesses(sessions, stall_after=settings.health_stall_seconds)  # a separate worker's loops
    rules = ViewRules(
        prefetch_seconds=settings.link_prefetch_seconds, repeat_window_seconds=settings.link_view_window_seconds
    )
    recorder = ViewRecorder(sessions=sessions, rules=rules, secret=secret)
    cache = DocumentCache(max_bytes=settings.document_cache_mb * 1024 * 1024)
    filer = EventFiler(sessions, verp_secret=secret)
    pages = InvoicePages(
        sessions=sessions,
        policy=LinkPolicy(
            public_url=settings.public_url, max_age_days=settings.link_max_age_days, open_pixel=settings.open_pixel
        ),
        verp_secret=secret,
        cache=cache,
        recorder=recorder,
    )
    webhooks = WebhookEndpoint(
        providers=webhook_providers(settings, sns_fetch=seams.sns_fetch, sns_trusts_url=seams.sns_trusts_url),
        replay_guard=ReplayGuard(sessions),
        filer=filer,
    )
    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    routes = [
        *invoice_page_routes(pages),
        *sent_email_routes(SentEmailDownloads(sessions=sessions, secret=secret)),
        *webhook_routes(webhooks),
        *metrics_routes(token=metrics_token, sessions=sessions, health=health, others=others),
    ]
    slack_app, signing_secret, viewers = None, None, None
    # Multi-workspace (issue 17): Bolt's OAuth flow and its stores when SLACK_CLIENT_ID/_SECRET are set.
    oauth = _oauth_wiring(settings, engine, sessions, organisations) if settings.multi_workspace else None
    bot_token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if bot_token is not None or oauth is not None:  # App Home republished from any process with a notifier
        refresh = HomeRefresh(sessions=sessions, organisations=organisations, today=seams.today, now=seams.now,
                              client=notifier_client(bot_token, settings.slack_api_url),
                              destinations=oauth.tokens if oauth is not None else None)  # fmt: skip
        viewers = home_refresher(refresh)
    if settings.slack_signing_secret is not None and (bot_token is not None or oauth is not None):
        signing_secret = settings.slack_signing_secret.get_secret_value()
        slack_app = create_slack_app(
            signing_secret=signing_secret,
            auth=oauth.settings if oauth is not None else str(bot_token),
            api_url=settings.slack_api_url,
            needs=ListenerNeeds(
                sessions=sessions,
                organisations=organisations,
                verp_secret=secret,
                public_url=settings.public_url,
                preview_link_minutes=settings.preview_link_minutes,
                home_viewers=viewers,
                now=seams.now,
            ),
            today=seams.today,
        )
        if oauth is not None:
            register_uninstall_listeners(slack_app, store=oauth.store, sessions=sessions)
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    if app_token and slack_app is not None:  # Socket Mode: events come over the WebSocket, installs still by HTTP
        routes.extend(install_routes(slack_app))
    runtime = Runtime(
        engine=engine,
        sessions=sessions,
        organisations=organisations,
        health=health,
        others=others,
        http=HttpServing(settings.http_host, settings.http_port, tuple(settings.trusted_proxies)),
        web_app=create_web_app(
            slack_app=None if app_token else slack_app,
            slack_signing_secret=signing_secret,
            extra_routes=routes,
            health=health,
            others=others,
        ),
        document_cache=cache,
        view_recorder=recorder,
        event_filer=filer,
        slack_app=slack_app,
        slack_app_token=app_token,
        workspace_tokens=oauth.tokens if oauth is not None else None,
        home_viewers=viewers,
    )
    _add_loops(runtime, settings, loops=loops, seams=seams, verp_secret=secret)
    return runtime


def _add_loops(
    runtime: Runtime, settings: Settings, *, loops: Collection[Loop], seams: Seams, verp_secret: bytes
) -> None:
    """Build the asked-for loops that are configured, each with its heartbeat registered."""
    if Loop.WORKER in loops:
        if settings.smtp_configured:
            runtime.render_pool = seams.render_pool or (
                make_render_pool(settings.render_processes) if settings.render_processes else None
            )
            parts = WorkerParts(
                sessions=runtime.sessions,
                transport=smtp_transport(settings),
                identity=runtime.organisations.identities,  # re-read ≤ once a second: follows an admin's change
                render_pool=runtime.render_pool,
                heartbeat=runtime.health.loop(Loop.WORKER, reports_each_round=True),
            )
            tuning = WorkerTuning(
                retry=RetryPolicy(max_attempts=settings.max_send_attempts, base_seconds=settings.retry_base_seconds),
                concurrency=settings.worker_concurrency,
                stale_after=timedelta(seconds=settings.stale_after_seconds),
            )
            runtime.worker = Worker(parts, tuning)
            runtime.audit_heartbeat = runtime.health.loop(Loop.AUDIT_SEALER, reports_each_round=True)
            silent = runtime.health.loop(Loop.SILENT_ALERTS, reports_each_round=True)
            every = min(CHECK_EVERY_SECONDS, settings.health_stall_seconds / 4)  # reports well inside the window
            runtime.silent_alerts = SilentAlerts(runtime.sessions, silent_route(settings), silent, every=every)
            autosend = Autosend(runtime.sessions, runtime.organisations, verp_secret=verp_secret)
            runtime.autosend = AutosendLoop(autosend, runtime.health.loop(Loop.AUTOSEND, reports_each_round=True))
            lateness = settings.reminder_max_lateness_days
            reminders = Reminders(runtime.sessions, runtime.organisations, verp_secret, lateness)
            runtime.reminders = RemindersLoop(reminders, runtime.health.loop(Loop.REMINDERS, reports_each_round=True))
            retention = runtime.health.loop(Loop.EMAIL_RETENTION)
            runtime.email_retention = EmailRetention(runtime.sessions, settings.sent_email_retention_days, retention)
        else:
            log.warning("INVOICEBOT_SMTP_HOST is not set: no emails will be sent")
    if Loop.BOUNCE_MAILBOX in loops:
        mailbox = seams.mailbox or ImapMailbox.from_settings(settings)
        if mailbox is None:  # no loop, so no heartbeat: /healthz and `health list` show no bounce mailbox line
            log.info("no bounce mailbox configured (INVOICEBOT_IMAP_HOST/_USERNAME/_PASSWORD): bounces are not read")
        else:
            runtime.bounce_heartbeat = runtime.health.loop(Loop.BOUNCE_MAILBOX)
            runtime.bounce_mailbox = BounceMailbox(
                mailbox=mailbox,
                sessions=runtime.sessions,
                verp_secret=verp_secret,
                polling=MailboxPolling(poll_interval=settings.imap_poll_seconds),
            )
    if Loop.UBL_VALIDATION in loops:
        runtime.ubl_validator = UblValidator(
            sessions=runtime.sessions,
            public_url=runtime.organisation_settings.identity.public_url,  # the worker's: the digests must agree
            heartbeat=runtime.health.loop(Loop.UBL_VALIDATION),
        )
    if Loop.DIGEST in loops:
        runtime.digest = DigestLoop(
            units=units_over(runtime.sessions), heartbeat=runtime.health.loop(Loop.DIGEST, reports_each_round=True)
        )
    if Loop.NOTIFIER in loops and (settings.slack_bot_token is not None or runtime.workspace_tokens is not None):
        channels = runtime.organisation_settings.channels
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        routing = PostRouting(
            default_channel=channels.notify,
            approvers_channel=channels.approvers,
            channels_now=runtime.organisations.channels,  # read per post: follows an admin's change
            destinations=runtime.workspace_tokens,  # multi-workspace: each post with its workspace's token
            after_post=runtime.home_viewers.changed if runtime.home_viewers is not None else None,
        )
        runtime.notifier = Notifier(
            runtime.sessions,
            notifier_client(token, settings.slack_api_url),
            routing,
            heartbeat=runtime.health.loop(Loop.NOTIFIER, reports_each_round=True),
        )


def _oauth_wiring(
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    directory: OrganisationDirectory,
) -> OAuthWiring:
    assert isinstance(directory, SettingsDirectory) and settings.slack_client_id and settings.slack_client_secret
    assert settings.token_keys  # Settings refuses multi-workspace without a key
    config = OAuthConfig(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        token_keys=settings.token_keys,
        scopes=tuple(settings.slack_scopes),
        public_url=settings.public_url,
        authorize_url=settings.slack_authorize_url,
        api_url=settings.slack_api_url,
    )
    return oauth_wiring(config, engine=engine, sessions=sessions, directory=directory)
