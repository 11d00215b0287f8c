"""The loop that pays what the notifications table says we owe Slack.

Each row is leased (`lease_due_notifications`), posted or updated, and recorded at once:
`record_posted` commits the message's ts right after Slack answers, so a later change of
the same send updates that message (`chat.update`) instead of posting a second one. A
429 waits as long as Slack's `Retry-After` says; an outage, a 5xx or a missing channel
leaves the row for a later attempt with backoff. Rows are never dropped here: a row is
only given up (status `failed`) after `max_attempts`, which by default spans about a day.

What each kind posts is decided by its renderer in handlers/notification_renderers.py
(`RENDERERS`, notification kind → renderer); this loop leases, hands over, records and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.loop_health import Heartbeat, LoopHealth
from bot.organisation_settings import SlackChannels
from bot.workspace_tokens import WorkspaceNotInstalled, WorkspaceTokens
from handlers.notification_renderers import (
    ORGANISATION_RENDERERS,
    RENDERERS,
    OrganisationPost,
    Posted,
    PostLater,
    SlackPost,
)
from services.db.models import Notification, utcnow
from services.db.rounds import DEFAULT_LOCK_TIMEOUT, lock_bounded_session
from services.errors import DomainError, error_summary
from services.notifications import (
    NotificationKind,
    lease_due_notifications,
    record_posted,
    record_retry,
    save_recorded,
)
from services.tracking.status import delivery_status_view

log = logging.getLogger("invoicebot.notifier")

# Errors an admin has to fix (a channel the bot is not in, a revoked token): retried, logged once.
NEEDS_ADMIN = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
     "token_revoked", "missing_scope", "restricted_action", "not_installed"}
)  # fmt: skip
NOTIFIER_MAX_ATTEMPTS = 100  # with backoff capped at 15 minutes: about a day of retries
NOT_YET_POSTED_DELAY = 5.0


class ChannelsNow(Protocol):
    """Where an organisation's posts go as its settings say now (bot/organisation_settings.py)."""

    async def __call__(self, session: AsyncSession, organisation_id: int, /) -> SlackChannels: ...


@dataclass(frozen=True, kw_only=True)
class PostRouting:
    """Where posts go.

    `approvers_channel`: approval requests (None: the default channel).
    `channels_now`: where an organisation's posts go as its settings say now (read per post;
    None: the two channels given).
    `destinations` (multi-workspace): each post goes with its organisation's workspace token
    (refreshed when it is about to expire) to that organisation's channels."""

    default_channel: str | None
    approvers_channel: str | None = None
    channels_now: ChannelsNow | None = None
    destinations: WorkspaceTokens | None = None
    # Told the organisation of every post made: what Slack shows changed (App Home republishes, debounced).
    after_post: Callable[[int], None] | None = None


@dataclass(frozen=True, kw_only=True)
class NotifierTuning:
    """How much the notifier posts per round, how often, and how patiently.

    `lock_timeout`: seconds any of its transactions waits for another's lock before the
    round fails (and `/healthz` says why); without it a held lock hangs the loop silently."""

    batch_size: int = 20
    poll_interval: float = 1.0
    max_attempts: int = NOTIFIER_MAX_ATTEMPTS
    max_backoff: float = 30.0
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT


class Notifier:
    """Drains the notifications table into Slack through the real `slack_sdk` client."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        routing: PostRouting,
        clock: Callable[[], datetime] = utcnow,
        *,
        heartbeat: Heartbeat | None = None,
        tuning: NotifierTuning | None = None,
    ) -> None:
        """`heartbeat`: where the loop reports progress (a private one when None)."""
        tuning = tuning or NotifierTuning()
        self.destinations = routing.destinations
        self.sessions = sessions
        self.lock_timeout = tuning.lock_timeout
        self.heartbeat = heartbeat or LoopHealth().loop("Slack notifier")
        self.max_backoff = tuning.max_backoff
        self.client = client
        self.default_channel = routing.default_channel
        self.approvers_channel = routing.approvers_channel or routing.default_channel
        self.channels_now = routing.channels_now
        self.after_post = routing.after_post
        self.clock = clock
        self.batch_size = tuning.batch_size
        self.poll_interval = tuning.poll_interval
        self.max_attempts = tuning.max_attempts
        self._reported: set[tuple[str, str]] = set()
        self._last_error: str | None = None  # why Slack refused the last round's last refused post

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session whose every transaction waits at most `lock_timeout` for another's lock."""
        return lock_bounded_session(self.sessions, self.lock_timeout)

    async def drain_once(self, limit: int | None = None) -> int:
        """Post every notification due now, up to `limit`. Returns how many were posted."""
        ids = await lease_due_notifications(self._session, now=self.clock(), limit=limit or self.batch_size)
        self._last_error = None
        posted = 0
        for notification_id in ids:
            posted += await self._deliver(notification_id)
        return posted

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set: at once while there is work, else every `poll_interval`.

        A round that breaks in an unexpected way (the database locked or full, a bug) is logged
        with its traceback once per streak, reported to the heartbeat, and retried with capped
        backoff; its rows are handed out again when their lease ends. The loop keeps going.
        A round that posts nothing while posts are due (Slack down) is not progress either.
        """
        log.info("Slack notifier started")
        while not stop.is_set():
            posted, delay = 0, self.poll_interval
            try:
                posted = await self.drain_once()
            except Exception as exc:
                if self.heartbeat.failed(error_summary(exc), due="Slack posts"):
                    log.exception("the Slack notifier failed a round; its rows are retried when their lease ends")
                delay = min(self.max_backoff, self.poll_interval * 2 ** min(self.heartbeat.failures - 1, 16))
            else:
                if posted:
                    self.heartbeat.progressed()
                elif self._last_error is not None:
                    self.heartbeat.failed(self._last_error, due="Slack posts")
                else:
                    self.heartbeat.idle()
            if posted < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        log.info("Slack notifier stopped")

    async def _deliver(self, notification_id: int) -> int:
        async with self._session() as session:
            notification = await session.get(Notification, notification_id)
            if notification is None:
                return 0
            channel = notification.channel or self.default_channel or "?"
            try:
                await self._post(session, notification)
            except SlackApiError as error:
                error_text, retry_after = _slack_error(error), _retry_after(error)
                self._last_error = error_text
            except (WorkspaceNotInstalled, SlackTokenRotationError) as error:
                error_text, retry_after = f"not_installed: {error}", None
                self._last_error = error_text
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                error_text, retry_after = f"Slack unreachable: {type(error).__name__}", None
                self._last_error = error_text
            except (PostLater, DomainError) as waiting:  # waiting on another post: not a failure
                error_text, retry_after = str(waiting), NOT_YET_POSTED_DELAY
            else:
                if self.after_post is not None:
                    self.after_post(notification.organisation_id)
                return 1
            await self._retry(session, notification_id, channel=channel, error=error_text, retry_after=retry_after)
            return 0

    async def _retry(
        self, session: AsyncSession, notification_id: int, *, channel: str, error: str, retry_after: float | None
    ) -> None:
        """Keep the row for later; say once, clearly, when only an admin can fix the cause."""
        code = error.split(":", 1)[0]
        if code in NEEDS_ADMIN and (code, channel) not in self._reported:
            self._reported.add((code, channel))
            log.error(
                "Slack refused a post to channel %s: %s. Invite the bot to the channel or fix its token; "
                "the post is kept and retried.",
                channel,
                code,
            )
        else:
            log.warning("notification %s not posted yet (%s); retrying later", notification_id, error)
        await record_retry(
            session,
            notification_id=notification_id,
            error=error,
            retry_after_seconds=retry_after,
            now=self.clock(),
            max_attempts=self.max_attempts,
        )

    async def _post(self, session: AsyncSession, notification: Notification) -> None:
        """Hand the row to its kind's renderer with the send's view; `posted` and `save` commit (in services)."""
        kind = NotificationKind(notification.kind)

        async def posted(where: Posted) -> None:
            """Commit the ts at once: from here on, this message is updated, never posted again."""
            await record_posted(
                session, notification_id=notification.id, ts=where.ts, now=self.clock(), channel=where.channel
            )

        client, default_channel, approvers_channel = self.client, self.default_channel, self.approvers_channel
        if self.destinations is not None:
            destination = await self.destinations.destination(notification.organisation_id)
            client = AsyncWebClient(token=destination.token, base_url=self.client.base_url, timeout=15)
            default_channel, approvers_channel = destination.channels.notify, destination.channels.approvals
        elif self.channels_now is not None:
            channels = await self.channels_now(session, notification.organisation_id)
            default_channel, approvers_channel = channels.notify, channels.approvals
        if kind in ORGANISATION_RENDERERS:  # a post about the organisation (the digest), not about a send
            await ORGANISATION_RENDERERS[kind](OrganisationPost(notification, client, default_channel, posted))
            return
        if notification.delivery_id is None:
            raise PostLater(f"notification {notification.id} names no send")
        view = await delivery_status_view(
            session, delivery_id=notification.delivery_id, organisation_id=notification.organisation_id
        )
        await RENDERERS[kind](
            SlackPost(
                session=session,
                notification=notification,
                view=view,
                client=client,
                default_channel=default_channel,
                approvers_channel=approvers_channel,
                now=self.clock,
                posted=posted,
                save=partial(save_recorded, session),
            )
        )


def _slack_error(error: SlackApiError) -> str:
    """`<code>: HTTP <status>` — Slack's error code, never the request (which holds the token)."""
    response = error.response
    code = str(response.get("error") or "slack_error") if response is not None else "slack_error"
    status = getattr(response, "status_code", "?")
    return f"{code}: HTTP {status}"


def _retry_after(error: SlackApiError) -> float | None:
    response = error.response
    if response is None or getattr(response, "status_code", None) != 429:
        return None
    raw = (getattr(response, "headers", None) or {}).get("Retry-After") or (response.headers or {}).get("retry-after")
    try:
        return max(1.0, float(raw)) if raw is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def notifier_client(bot_token: str | None, api_url: str) -> AsyncWebClient:
    """A Web API client for the notifier, with no 429 retry of its own: the rows are the retry."""
    return AsyncWebClient(token=bot_token, base_url=api_url, timeout=15)
