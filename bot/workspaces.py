"""Install in many workspaces: Bolt's OAuth flow over the product's own database.

When `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` are set (`Settings.multi_workspace`) the Slack
app is built with `oauth_wiring()` instead of one `SLACK_BOT_TOKEN`:

- slack_sdk's async SQLAlchemy installation and OAuth state stores, on the product's engine;
  their tables come from migration 0016_installations (services/db/models/installations.py),
  never from `create_tables` at runtime;
- every bot, user and refresh token is encrypted at rest with `INVOICEBOT_TOKEN_KEY` (Fernet):
  a copy of the database (a backup, a support dump) holds no usable Slack token. The variable
  may list several keys, newest first (MultiFernet: sealed with the first, opened with any);
  `invoicebot workspaces rotate-key` re-seals every stored token with the first (`TokenSealer`);
- each installed workspace is its own organisation, keyed by its team id (an org-wide
  Enterprise Grid install: by its enterprise id, `workspace_key`), created on install;
- `app_uninstalled` / `tokens_revoked` delete the tokens and pause that organisation's
  sending (services.sending.pausing): its data is kept, its queued emails wait.

Each workspace's settings are its own `organisation_settings` row, written at install
(`workspace_seed`: the installing user is its admin, channels empty until set) and read through
the one cached directory (bot/organisation_settings.py `SettingsDirectory`, `by_team`). What
stays per process: the SMTP relay, the DKIM key, the VERP secret.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import (
    AsyncSQLAlchemyInstallationStore,
    SQLAlchemyInstallationStore,
)
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Column, MetaData, Table, Text, and_, desc, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.types import TypeDecorator

from bot.organisation_settings import SettingsDirectory
from bot.workspace_tokens import (
    ROTATE_MINUTES_BEFORE,
    LockingAuthorize,
    RefreshLocks,
    WorkspaceTokens,
    workspace_key,
)
from services.db.models import TOKEN_COLUMNS, slack_bots, slack_installations
from services.invoicing.settings import OrganisationSettingsValues
from services.postal_address import PostalAddress
from services.sending.pausing import pause_workspace, resume_workspace
from services.unit_of_work import units_over

log = logging.getLogger("invoicebot.workspaces")

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_SECONDS = 600


class TokenKeyMismatch(Exception):
    """A stored token cannot be decrypted: none of INVOICEBOT_TOKEN_KEY's keys is the one it was stored with."""


KEY_MISMATCH = (
    "a stored Slack token cannot be decrypted: none of the keys in INVOICEBOT_TOKEN_KEY is the one it was "
    "sealed with (after a rotation, keep the old key after the new one until `invoicebot workspaces rotate-key` ran)"
)


@dataclass(frozen=True)
class TokenSealer:
    """INVOICEBOT_TOKEN_KEY's keys, newest first: seal with the newest, open with any."""

    fernet: MultiFernet = field(repr=False)

    @classmethod
    def from_keys(cls, keys: tuple[bytes, ...]) -> TokenSealer:
        return cls(MultiFernet([Fernet(key) for key in keys]))

    def seal(self, token: str) -> str:
        return self.fernet.encrypt(token.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise TokenKeyMismatch(KEY_MISMATCH) from None

    def reseal(self, sealed: str) -> str:
        """Sealed again with the newest key (`rotate-key`)."""
        try:
            return self.fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise TokenKeyMismatch(KEY_MISMATCH) from None


class SealedToken(TypeDecorator[str]):
    """A token column encrypted with Fernet on the way in and decrypted on the way out."""

    impl = Text
    cache_ok = True

    def __init__(self, sealer: TokenSealer) -> None:
        super().__init__()
        self.sealer = sealer

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else self.sealer.seal(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else self.sealer.open(value)


def _sealed(table: Table, metadata: MetaData, sealer: TokenSealer) -> Table:
    """A copy of `table` whose token columns are `SealedToken`s (the store's own queries, encrypted)."""
    columns = [
        Column(
            column.name,
            SealedToken(sealer) if column.name in TOKEN_COLUMNS else column.type,
            primary_key=column.primary_key,
            nullable=column.nullable,
            autoincrement=column.autoincrement,
        )
        for column in table.columns
    ]
    return Table(table.name, metadata, *columns)


class SealedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack_sdk's async SQLAlchemy store over our tables, with its tokens encrypted at rest."""

    def __init__(self, *, client_id: str, engine: AsyncEngine, sealer: TokenSealer) -> None:
        super().__init__(client_id=client_id, engine=engine, logger=log)
        self.metadata = MetaData()
        self.sealer = sealer
        self.installations = _sealed(slack_installations, self.metadata, sealer)
        self.bots = _sealed(slack_bots, self.metadata, sealer)
        self.version = 0  # bumped by every write: LockingAuthorize's cached answers are then stale

    async def async_save(self, installation: Installation) -> None:
        self.version += 1
        await super().async_save(installation)
        self.version += 1

    async def async_save_bot(self, bot: Bot) -> None:
        self.version += 1
        await super().async_save_bot(bot)
        self.version += 1

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.version += 1
        await super().async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        self.version += 1

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        self.version += 1
        await super().async_delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        self.version += 1

    async def find_bot_for(self, slack_team_id: str) -> Bot | None:
        """The latest bot of the workspace (or org-wide install) an organisation is keyed by."""
        c = self.bots.c
        org_wide = and_(c.team_id.is_(None), c.enterprise_id == slack_team_id, c.is_enterprise_install.is_(True))
        query = (
            select(self.bots)
            .where(c.client_id == self.client_id, c.bot_token.is_not(None), or_(c.team_id == slack_team_id, org_wide))
            .order_by(desc(c.installed_at))
            .limit(1)
        )
        async with self.engine.connect() as conn:
            for row in (await conn.execute(query)).mappings():
                return SQLAlchemyInstallationStore.build_bot_entity(row)
        return None


def workspace_seed(
    seed: OrganisationSettingsValues, *, installer: str | None, name: str | None
) -> OrganisationSettingsValues:
    """A newly installed workspace's first settings: the person who installed it is its admin; its
    roles, channels, legal details and archive copies are its own to set (nothing of the
    environment's organisation leaks in); sender address, language, currency and approval policy
    start as the installation's defaults."""
    return replace(
        seed,
        senders=(),
        approvers=(),
        admins=(installer,) if installer else (),
        group_members={},
        notify_channel=None,
        approvers_channel=None,
        sender_name=None,
        legal_name=name or seed.legal_name,
        address=PostalAddress(country=seed.address.country),
        tax_id="",
        cc=(),
        bcc=(),
    )


@dataclass(frozen=True)
class OAuthWiring:
    """What bootstrap builds once for multi-workspace mode."""

    settings: AsyncOAuthSettings
    store: SealedInstallationStore
    tokens: WorkspaceTokens


@dataclass(frozen=True)
class OAuthConfig:
    client_id: str
    client_secret: str = field(repr=False)
    token_keys: tuple[bytes, ...] = field(repr=False)  # newest first
    scopes: tuple[str, ...]
    public_url: str
    authorize_url: str
    api_url: str


def oauth_wiring(
    config: OAuthConfig,
    *,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    directory: SettingsDirectory,
) -> OAuthWiring:
    """Bolt's OAuth settings over our stores; install pages that say what happened."""
    sealer = TokenSealer.from_keys(config.token_keys)
    store = SealedInstallationStore(client_id=config.client_id, engine=engine, sealer=sealer)
    api = AsyncWebClient(base_url=config.api_url)
    rotator = AsyncTokenRotator(client_id=config.client_id, client_secret=config.client_secret, client=api)
    pages = InstallPages(sessions=sessions, directory=directory)
    settings = AsyncOAuthSettings(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=list(config.scopes),
        redirect_uri=config.public_url.rstrip("/") + REDIRECT_PATH,
        install_path=INSTALL_PATH,
        install_page_rendering_enabled=False,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=config.authorize_url,
        installation_store=store,
        state_store=AsyncSQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine, logger=log),
        state_expiration_seconds=STATE_SECONDS,
        callback_options=AsyncCallbackOptions(success=pages.success, failure=pages.failure),
        logger=log,
    )
    # Bolt's own authorize refreshes tokens with a client on slack.com: ours follows the API URL,
    # and takes the same per-installation lock as the notifier's refresh.
    locks = RefreshLocks(engine)
    settings.authorize = LockingAuthorize(
        locks=locks,
        logger=log,
        installation_store=store,
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE,
        client=api,
        # auth.test answers kept per token: a request costs the installation lookup, not a call to
        # Slack. A deleted installation is not found first, so a revoked token is never served.
        cache_enabled=True,
    )
    tokens = WorkspaceTokens(store=store, rotator=rotator, sessions=sessions, directory=directory, locks=locks)
    return OAuthWiring(settings=settings, store=store, tokens=tokens)


FAILURES = {
    "invalid_browser": "This install was started in another browser, or its cookie has expired.",
    "invalid_state": "This install link was already used or has expired.",
    "missing_code": "Slack did not send an authorisation code.",
    "invalid_code": "Slack did not accept the authorisation code (it may have been used already).",
    "access_denied": "The install was cancelled in Slack.",
    "storage_error": "The installation could not be saved.",
}


def _page(title: str, sentence: str, status: int) -> BoltResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>invoicebot</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(sentence)}</p></body></html>"
    )
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"})


@dataclass(frozen=True)
class InstallPages:
    """What the browser shows at the end of the flow; a success creates the workspace's organisation."""

    sessions: async_sessionmaker[AsyncSession]
    directory: SettingsDirectory

    async def success(self, args: AsyncSuccessArgs) -> BoltResponse:
        installation: Installation = args.installation
        key = workspace_key(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            is_enterprise_install=installation.is_enterprise_install,
        )
        name = installation.enterprise_name if installation.is_enterprise_install else installation.team_name
        if key is not None:
            seed = workspace_seed(self.directory.seed, installer=installation.user_id, name=name)
            async with self.sessions() as session:
                organisation = await self.directory.install(session, key, seed)
            await resume_workspace(units_over(self.sessions), organisation_id=organisation.id)
        log.info("invoicebot was installed in workspace %s (%s)", key, name)
        return _page(
            "invoicebot is installed",
            f"invoicebot is installed in {name or key}. Type /invoices due in Slack to start.",
            200,
        )

    async def failure(self, args: AsyncFailureArgs) -> BoltResponse:
        reason = FAILURES.get(args.reason, f"Slack's install flow failed ({args.reason}).")
        log.warning("a Slack install failed: %s", args.reason)
        return _page(
            "invoicebot was not installed",
            f"{reason} Nothing was installed. Start again from {INSTALL_PATH}.",
            args.suggested_status_code,
        )


def register_uninstall_listeners(
    app: AsyncApp, *, store: SealedInstallationStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """`app_uninstalled` / `tokens_revoked`: tokens deleted, that workspace's sending paused, data kept."""

    async def stop_workspace(context: AsyncBoltContext, why: str) -> None:
        key = workspace_key(
            enterprise_id=context.enterprise_id,
            team_id=context.team_id,
            is_enterprise_install=context.is_enterprise_install,
        )
        team_id = None if context.is_enterprise_install else context.team_id  # an org-wide install has none
        await store.async_delete_all(enterprise_id=context.enterprise_id, team_id=team_id)
        if key is None:
            return
        paused = await pause_workspace(units_over(sessions), slack_team_id=key, reason=why)
        waiting = paused.waiting if paused is not None else 0
        log.warning(
            "workspace %s: %s; its tokens were deleted and its sending is paused (%d emails wait); data kept",
            key,
            why,
            waiting,
        )

    @app.event("app_uninstalled")
    async def app_uninstalled(context: AsyncBoltContext) -> None:
        await stop_workspace(context, "the app was uninstalled from the Slack workspace")

    @app.event("tokens_revoked")
    async def tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        tokens = event.get("tokens") or {}
        for user_id in tokens.get("oauth") or []:
            await store.async_delete_installation(
                enterprise_id=context.enterprise_id, team_id=context.team_id, user_id=str(user_id)
            )
        if tokens.get("bot"):
            await stop_workspace(context, "the bot's token was revoked in the Slack workspace")
