"""Each workspace's bot token outside a request, and one refresh at a time per installation.

Rotating tokens (`token_rotation_enabled` in the manifest) expire after 12 hours and are
refreshed with `oauth.v2.access` grant_type=refresh_token. Two refreshes of one installation
at once would each spend the refresh token and store a different token, so a refresh holds
`RefreshLocks.held(workspace)`: an asyncio lock in the process and, on PostgreSQL, a
transaction-scoped advisory lock across processes (web and worker), waited for at most
`LOCK_WAIT_SECONDS`. Under the lock the bot is read again: a refresh another process just made is
used, not repeated. Bolt's own authorize (a request's token) takes the same locks
(`LockingAuthorize`), so the web's refresh and the notifier's never race.

A request's authorisation comes from a cache (`LockingAuthorize`): its answer per workspace and
user is kept `AUTHORIZE_CACHE_SECONDS`, so a request costs no installation lookup (issue 17: 100
workspaces at `/invoices due` speed). Any change to the installation store in this process
(install, refresh, uninstall, revocation) empties it at once; another process's change is seen
within the TTL. A token due for a refresh is never served from it: refreshes start two hours
before expiry, the cache keeps an answer seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.organisation_settings import OrganisationDirectory, SlackChannels
from services.db.advisory_locks import advisory_lock
from services.db.models import Organisation

if TYPE_CHECKING:
    from bot.workspaces import SealedInstallationStore

log = logging.getLogger("invoicebot.workspaces")

ROTATE_MINUTES_BEFORE = 120  # Bolt's default: refresh a rotating token 2 hours before it expires
AUTHORIZE_CACHE_SECONDS = 30.0  # how long a request's authorisation is reused (another process's uninstall)
AUTHORIZE_CACHE_ENTRIES = 10_000  # (workspace, user) answers kept at most; emptied when full
LOCK_WAIT_SECONDS = 10.0  # PostgreSQL lock_timeout while another process refreshes the same installation


class WorkspaceNotInstalled(Exception):
    """No bot token for this organisation's workspace (never installed, uninstalled or revoked)."""


def workspace_key(*, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> str | None:
    """The organisation's `slack_team_id`: the team, or the enterprise for an org-wide Grid install."""
    return enterprise_id if is_enterprise_install else team_id


def expiring(expires_at: int | None, minutes_before: int) -> bool:
    """Whether a token expiring at `expires_at` (Unix seconds; None: never) is due for a refresh."""
    return expires_at is not None and expires_at <= time.time() + minutes_before * 60


@dataclass
class RefreshLocks:
    """One refresh at a time per installation: in this process, and across processes on PostgreSQL."""

    engine: AsyncEngine
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    @asynccontextmanager
    async def held(self, workspace: str) -> AsyncIterator[None]:
        in_process = self._locks.setdefault(workspace, asyncio.Lock())
        async with (
            in_process,
            advisory_lock(self.engine, f"invoicebot.slack-token.{workspace}", wait_seconds=LOCK_WAIT_SECONDS),
        ):
            yield


class LockingAuthorize(AsyncInstallationStoreAuthorize):
    """Bolt's authorize, whose token refresh takes `RefreshLocks` and re-reads the installation."""

    def __init__(self, *, locks: RefreshLocks, **options: Any) -> None:
        super().__init__(**options)
        self.locks = locks
        self._answers: dict[tuple[str | None, ...], tuple[float, int, AuthorizeResult]] = {}

    async def __call__(  # Bolt passes these by keyword
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **actor: str | None,
    ) -> AuthorizeResult | None:
        key = (enterprise_id, team_id, user_id, *sorted(str(value) for value in actor.values()))
        version = getattr(self.installation_store, "version", 0)
        kept = self._answers.get(key)
        if kept is not None and kept[0] > time.monotonic() and kept[1] == version:
            return kept[2]
        answer = await super().__call__(
            context=context, enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, **actor
        )
        if answer is not None:
            if len(self._answers) >= AUTHORIZE_CACHE_ENTRIES:
                self._answers.clear()
            self._answers[key] = (time.monotonic() + AUTHORIZE_CACHE_SECONDS, version, answer)
        return answer

    async def _rotate_and_save_tokens_if_necessary(self, installation: Installation | None) -> Installation | None:
        if installation is None or not expiring(
            installation.bot_token_expires_at, self.token_rotation_expiration_minutes
        ):
            return await super()._rotate_and_save_tokens_if_necessary(installation)
        key = workspace_key(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            is_enterprise_install=installation.is_enterprise_install,
        )
        async with self.locks.held(str(key)):
            fresh = await self.installation_store.async_find_installation(
                enterprise_id=installation.enterprise_id,
                team_id=installation.team_id,
                is_enterprise_install=installation.is_enterprise_install,
            )
            return await super()._rotate_and_save_tokens_if_necessary(fresh or installation)


@dataclass(frozen=True)
class Destination:
    """Who a Slack post outside a request goes as (the workspace's bot token) and where."""

    token: str = field(repr=False)
    channels: SlackChannels


class WorkspaceTokens:
    """Bot tokens for posts outside a request (the notifier), refreshed before they expire."""

    def __init__(
        self,
        *,
        store: SealedInstallationStore,
        rotator: AsyncTokenRotator,
        sessions: async_sessionmaker[AsyncSession],
        directory: OrganisationDirectory,
        locks: RefreshLocks,
        minutes_before_expiration: int = ROTATE_MINUTES_BEFORE,
    ) -> None:
        self.store = store
        self.rotator = rotator
        self.sessions = sessions
        self.directory = directory
        self.locks = locks
        self.minutes_before_expiration = minutes_before_expiration

    async def destination(self, organisation_id: int) -> Destination:
        async with self.sessions() as session:
            organisation = await session.get(Organisation, organisation_id)
            key = organisation.slack_team_id if organisation is not None else None
            if key is None:
                raise WorkspaceNotInstalled(f"organisation {organisation_id} belongs to no installed Slack workspace")
            channels = await self.directory.channels(session, organisation_id)  # its own, as stored now
        token = await self.bot_token(key)
        return Destination(token=token, channels=channels)

    async def bot_token(self, slack_team_id: str) -> str:
        bot = await self.store.find_bot_for(slack_team_id)
        if bot is None or not bot.bot_token:
            raise WorkspaceNotInstalled(f"invoicebot is not installed in workspace {slack_team_id}")
        if not expiring(bot.bot_token_expires_at, self.minutes_before_expiration):
            return str(bot.bot_token)
        async with self.locks.held(slack_team_id):
            bot = await self.store.find_bot_for(slack_team_id)  # another may have refreshed it meanwhile
            if bot is None or not bot.bot_token:
                raise WorkspaceNotInstalled(f"invoicebot is not installed in workspace {slack_team_id}")
            refreshed = await self.rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=self.minutes_before_expiration
            )
            if refreshed is None:
                return str(bot.bot_token)
            await self.store.async_save_bot(refreshed)
            log.info("refreshed the bot token of workspace %s", slack_team_id)
            return str(refreshed.bot_token)
