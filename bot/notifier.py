"""The loop that pays what the notifications table says we owe Slack.

Each row is leased (`claim_due_notifications`), posted or updated, and recorded at once:
`mark_posted` commits the message's ts right after Slack answers, so a later change of
the same send updates that message (`chat.update`) instead of posting a second one. A
429 waits as long as Slack's `Retry-After` says; an outage, a 5xx or a missing channel
leaves the row for a later attempt with backoff. Rows are never dropped here: a row is
only given up (status `failed`) after `max_attempts`, which by default spans about a day.

What each kind does:
- delivery_status: post the send's status message once, in its channel (the row's, else
  the notify channel), then `chat.update` it in place;
- approval_request: post *Approve* / *Reject* in the approvers' channel;
- approval_decided: rewrite that request message to say who decided;
- delivery_alert: reply in the status message's thread with the reason and the buttons
  to fix it (later, if the status message is not posted yet), then refresh the status
  message itself; an alert whose problem is already over is posted resolved, without buttons;
- alerts_resolved: rewrite the invoice's posted alerts whose problem is over (a resend was
  accepted, the invoice was marked as sent by hand, the email arrived after all): their
  buttons give way to who resolved it and how. A status message that says an invoice email
  went out owes this rewrite for the invoice's older alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.container import Container
from bot.loop_health import Heartbeat, LoopHealth
from handlers.blocks_approvals import approval_decided_message, approval_request_message
from handlers.blocks_status import delivery_alert_message, status_message
from services.alert_resolution import (
    alert_resolution,
    mark_alert_resolved,
    owe_alerts_resolved_after,
    resolved_alerts,
)
from services.db.models import Approval, DeliveryKind, Notification, utcnow
from services.delivery_status import DeliveryStatusView, delivery_status_view
from services.errors import DomainError, error_summary
from services.invoice_states import SENT_OK
from services.notifications import (
    NotificationKind,
    claim_due_notifications,
    enqueue_notification,
    mark_posted,
    mark_retry,
)

log = logging.getLogger("invoicebot.notifier")

# Errors an admin has to fix (a channel the bot is not in, a revoked token): retried, logged once.
NEEDS_ADMIN = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
     "token_revoked", "missing_scope", "restricted_action"}
)  # fmt: skip
NOTIFIER_MAX_ATTEMPTS = 100  # with backoff capped at 15 minutes: about a day of retries
NOT_YET_POSTED_DELAY = 5.0


class PostLater(Exception):
    """The post depends on another message that is not in Slack yet; try this row again later."""


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


class Notifier:
    """Drains the notifications table into Slack through the real `slack_sdk` client."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        default_channel: str | None,
        clock: Callable[[], datetime] = utcnow,
        *,
        approvers_channel: str | None = None,
        batch_size: int = 20,
        poll_interval: float = 1.0,
        max_attempts: int = NOTIFIER_MAX_ATTEMPTS,
        heartbeat: Heartbeat | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        self.sessions = sessions
        self.heartbeat = heartbeat or LoopHealth().loop("Slack notifier")
        self.max_backoff = max_backoff
        self.client = client
        self.default_channel = default_channel
        self.approvers_channel = approvers_channel or default_channel
        self.clock = clock
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self._reported: set[tuple[str, str]] = set()
        self._last_error: str | None = None  # why Slack refused the last round's last refused post

    async def drain_once(self, limit: int | None = None) -> int:
        """Post every notification due now, up to `limit`. Returns how many were posted."""
        async with self.sessions() as session:
            claimed = await claim_due_notifications(session, now=self.clock(), limit=limit or self.batch_size)
            ids = [notification.id for notification in claimed]
            await session.commit()
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
        async with self.sessions() as session:
            notification = await session.get(Notification, notification_id)
            if notification is None:
                return 0
            channel = notification.channel or self.default_channel or "?"
            try:
                await self._post(session, notification)
            except SlackApiError as error:
                error_text, retry_after = _slack_error(error), _retry_after(error)
                self._last_error = error_text
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                error_text, retry_after = f"Slack unreachable: {type(error).__name__}", None
                self._last_error = error_text
            except (PostLater, DomainError) as waiting:  # waiting on another post: not a failure
                error_text, retry_after = str(waiting), NOT_YET_POSTED_DELAY
            else:
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
        await session.rollback()
        await mark_retry(
            session,
            notification_id=notification_id,
            error=error,
            retry_after_seconds=retry_after,
            now=self.clock(),
            max_attempts=self.max_attempts,
        )
        await session.commit()

    # C901 waived: the if/elif on the kind becomes the kind → renderer registry of issue 12 item 4.
    async def _post(self, session: AsyncSession, notification: Notification) -> None:  # noqa: C901
        kind = NotificationKind(notification.kind)
        if notification.delivery_id is None:
            raise PostLater(f"notification {notification.id} names no send")
        view = await delivery_status_view(
            session, delivery_id=notification.delivery_id, organisation_id=notification.organisation_id
        )
        if kind == NotificationKind.DELIVERY_STATUS:
            text, blocks = status_message(view)
            if view.slack_channel and view.slack_ts:
                await self.client.chat_update(channel=view.slack_channel, ts=view.slack_ts, text=text, blocks=blocks)
                await self._posted(session, notification, Posted(view.slack_channel, view.slack_ts))
            else:
                channel = self._channel(notification, self.default_channel)
                await self._posted(session, notification, await self._post_message(channel, text, blocks))
            if view.kind == DeliveryKind.INVOICE and view.status in SENT_OK:
                # an email of the invoice went out: its older alerts' problems may be over
                await owe_alerts_resolved_after(
                    session, delivery_id=view.delivery_id, organisation_id=notification.organisation_id,
                    now=self.clock(),
                )  # fmt: skip
                await session.commit()
        elif kind == NotificationKind.APPROVAL_REQUEST:
            text, blocks = approval_request_message(view)
            channel = self._channel(notification, self.approvers_channel)
            await self._posted(session, notification, await self._post_message(channel, text, blocks))
        elif kind == NotificationKind.APPROVAL_DECIDED:
            approval = (
                await session.execute(select(Approval).where(Approval.delivery_id == view.delivery_id))
            ).scalar_one_or_none()
            if approval is None or not approval.slack_channel or not approval.slack_ts:
                raise PostLater("the approval request is not in Slack yet")
            text, blocks = approval_decided_message(view)
            await self.client.chat_update(
                channel=approval.slack_channel, ts=approval.slack_ts, text=text, blocks=blocks
            )
            await self._posted(session, notification, Posted(approval.slack_channel, approval.slack_ts))
        elif kind == NotificationKind.DELIVERY_ALERT:
            if not view.slack_channel or not view.slack_ts:
                raise PostLater("the send's status message is not in Slack yet")
            resolution = await alert_resolution(
                session, delivery_id=view.delivery_id, organisation_id=notification.organisation_id
            )
            text, blocks = delivery_alert_message(view, notification.payload or {}, resolution)
            answer = await self.client.chat_postMessage(
                channel=view.slack_channel, thread_ts=view.slack_ts, text=text, blocks=blocks, unfurl_links=False
            )
            if resolution is not None:  # posted already resolved: never rewritten again
                await mark_alert_resolved(session, notification_id=notification.id, resolution=resolution)
            await self._posted(session, notification, Posted(str(answer.get("channel")), str(answer.get("ts"))))
            await self._refresh_status(session, notification, view.slack_channel, view.slack_ts)
        elif kind == NotificationKind.ALERTS_RESOLVED:
            await self._resolve_alerts(session, notification, view)

    async def _resolve_alerts(
        self, session: AsyncSession, notification: Notification, view: DeliveryStatusView
    ) -> None:
        """Rewrite in place each posted alert of the invoice whose problem is over: no buttons,
        who resolved it and how. Each rewrite is recorded at once, so a retry skips it."""
        for alert in await resolved_alerts(
            session, delivery_id=view.delivery_id, organisation_id=notification.organisation_id
        ):
            alert_view = await delivery_status_view(session, delivery_id=alert.delivery_id)
            if not alert_view.slack_channel:
                raise PostLater("the alert's status message has no channel yet")
            text, blocks = delivery_alert_message(alert_view, alert.payload, alert.resolution)
            await self.client.chat_update(channel=alert_view.slack_channel, ts=alert.ts, text=text, blocks=blocks)
            await mark_alert_resolved(session, notification_id=alert.notification_id, resolution=alert.resolution)
            await session.commit()
        await self._posted(session, notification, Posted(view.slack_channel or "", view.slack_ts or ""))

    def _channel(self, notification: Notification, fallback: str | None) -> str:
        channel = notification.channel or str((notification.payload or {}).get("channel") or "") or fallback
        if not channel:
            raise PostLater("no channel to post in: set INVOICEBOT_NOTIFY_CHANNEL")
        return channel

    async def _post_message(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        answer = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        return Posted(str(answer.get("channel") or channel), str(answer["ts"]))

    async def _posted(self, session: AsyncSession, notification: Notification, posted: Posted) -> None:
        """Commit the ts at once: from here on, this message is updated, never posted again."""
        await mark_posted(
            session, notification_id=notification.id, ts=posted.ts, now=self.clock(), channel=posted.channel
        )
        await session.commit()

    async def _refresh_status(self, session: AsyncSession, alert: Notification, channel: str, ts: str) -> None:
        """Rewrite the status message after an alert; if Slack says no now, owe it as a row."""
        assert alert.delivery_id is not None
        view = await delivery_status_view(session, delivery_id=alert.delivery_id)
        text, blocks = status_message(view)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as error:
            log.warning("status message of send %s not refreshed (%s); queued", alert.delivery_id, type(error).__name__)
            await enqueue_notification(
                session,
                organisation_id=alert.organisation_id,
                delivery_id=alert.delivery_id,
                kind=NotificationKind.DELIVERY_STATUS,
                channel=channel,
                payload={"status": view.status},
                now=self.clock(),
            )
            await session.commit()


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


def notifier_client(container: Container) -> AsyncWebClient:
    """A Web API client for the notifier, with no 429 retry of its own: the rows are the retry."""
    settings = container.settings
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=15)


def build_notifier(container: Container, client: AsyncWebClient, heartbeat: Heartbeat | None = None) -> Notifier:
    settings = container.settings
    return Notifier(
        container.sessions,
        client,
        settings.notify_channel,
        approvers_channel=settings.approvers_channel,
        heartbeat=heartbeat,
    )


def notifier_loop(
    container: Container, client: AsyncWebClient | None = None, *, health: LoopHealth | None = None
) -> Coroutine[Any, Any, None]:
    """The coroutine `invoicebot run` adds to `serve(loops=…)`; it stops when cancelled.
    It reports to `health` as "Slack notifier"."""
    heartbeat = health.loop("Slack notifier", reports_each_round=True) if health is not None else None
    notifier = build_notifier(container, client or notifier_client(container), heartbeat)
    return notifier.run(asyncio.Event())
