"""Outbound Slack posts: one renderer per notification kind, chosen from `RENDERERS`.

The notifier loop (bot/notifier.py) leases a row of the notifications table, loads the
send's `DeliveryStatusView` and calls the renderer of the row's kind with a `SlackPost`: the
row, the view, the Web API client and the two things only the loop may do — `posted`
(commit the message's ts at once, so a later change updates it instead of posting a second
one) and `save` (commit what the renderer recorded). What each kind does:

- delivery_status: post the send's status message once, in its channel (the row's, else
  the notify channel), then `chat.update` it in place;
- approval_request: post *Approve* / *Reject* in the approvers' channel;
- approval_decided: rewrite that request message to say who decided;
- delivery_alert: reply in the status message's thread with the reason and the buttons
  to fix it (later, if the status message is not posted yet), then refresh the status
  message itself; an alert whose problem is already over is posted resolved, without buttons;
- delivery_note: reply in the status message's thread with who rejected (and why) or cancelled it;
- digest: the organisation's daily digest in the notify channel (ORGANISATION_RENDERERS: a
  post about the organisation, so it gets no send's view);
- alerts_resolved: rewrite the invoice's posted alerts whose problem is over (a resend was
  accepted, the invoice was marked as sent by hand, the email arrived after all): their
  buttons give way to who resolved it and how. A status message that says an invoice email
  went out owes this rewrite for the invoice's older alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.approvals import approval_decided_message, approval_request_message
from handlers.blocks.autosend import autosend_message
from handlers.blocks.digest import digest_message
from handlers.blocks.elements import Block, section
from handlers.blocks.reminders_notice import reminders_message
from handlers.blocks.status import delivery_alert_message, delivery_note_text, status_message
from handlers.blocks.window_preview import window_preview_message, window_preview_stopped_message
from handlers.context import Session
from services.db.models import DeliveryKind, Notification
from services.invoicing.states import SENT_OK
from services.notifications import NotificationKind, NotificationRequest, enqueue_notification
from services.sending.approvals import approval_reason
from services.sending.approvals import approval_request_message as approval_request_location
from services.tracking.alert_resolution import (
    alert_resolution,
    mark_alert_resolved,
    owe_alerts_resolved_after,
    resolved_alerts,
)
from services.tracking.status import DeliveryStatusView, delivery_status_view

log = logging.getLogger("invoicebot.notifier")


class PostLater(Exception):
    """The post depends on another message that is not in Slack yet; try this row again later."""


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


@dataclass(frozen=True)
class SlackPost:
    """One owed post being paid: the row, its send's view, and what the renderer may use."""

    session: Session
    notification: Notification
    view: DeliveryStatusView
    client: AsyncWebClient
    default_channel: str | None
    approvers_channel: str | None
    now: Callable[[], datetime]
    posted: Callable[[Posted], Awaitable[None]]  # commits the ts at once
    save: Callable[[], Awaitable[None]]  # commits what the renderer recorded

    @property
    def organisation_id(self) -> int:
        return self.notification.organisation_id

    def channel(self, fallback: str | None) -> str:
        notification = self.notification
        channel = notification.channel or str((notification.payload or {}).get("channel") or "") or fallback
        if not channel:
            raise PostLater("no channel to post in: set INVOICEBOT_NOTIFY_CHANNEL")
        return channel

    async def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        answer = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        return Posted(str(answer.get("channel") or channel), str(answer["ts"]))


Renderer = Callable[[SlackPost], Awaitable[None]]


async def post_delivery_status(post: SlackPost) -> None:
    view = post.view
    text, blocks = status_message(view)
    if view.slack_channel and view.slack_ts:
        await post.client.chat_update(channel=view.slack_channel, ts=view.slack_ts, text=text, blocks=blocks)
        await post.posted(Posted(view.slack_channel, view.slack_ts))
    else:
        await post.posted(await post.post_message(post.channel(post.default_channel), text, blocks))
    if view.kind == DeliveryKind.INVOICE and view.status in SENT_OK:
        # an email of the invoice went out: its older alerts' problems may be over
        await owe_alerts_resolved_after(
            post.session, delivery_id=view.delivery_id, organisation_id=post.organisation_id, now=post.now()
        )
        await post.save()


async def post_approval_request(post: SlackPost) -> None:
    reason = (post.notification.payload or {}).get("approval_reason")
    text, blocks = approval_request_message(post.view, str(reason) if reason else None)
    await post.posted(await post.post_message(post.channel(post.approvers_channel), text, blocks))


async def update_approval_decided(post: SlackPost) -> None:
    where = await approval_request_location(post.session, delivery_id=post.view.delivery_id)
    if where is None:
        raise PostLater("the approval request is not in Slack yet")
    channel, ts = where
    reason = await approval_reason(post.session, delivery_id=post.view.delivery_id)
    text, blocks = approval_decided_message(post.view, reason)
    await post.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    await post.posted(Posted(channel, ts))


async def post_delivery_note(post: SlackPost) -> None:
    """Who stopped the send (and why), as a reply in its status message's thread."""
    view = post.view
    if not view.slack_channel or not view.slack_ts:
        raise PostLater("the send's status message is not in Slack yet")
    text = delivery_note_text(view, post.notification.payload or {})
    answer = await post.client.chat_postMessage(
        channel=view.slack_channel, thread_ts=view.slack_ts, text=text, blocks=[section(text)], unfurl_links=False
    )
    await post.posted(Posted(str(answer.get("channel")), str(answer.get("ts"))))


async def post_delivery_alert(post: SlackPost) -> None:
    view = post.view
    if not view.slack_channel or not view.slack_ts:
        raise PostLater("the send's status message is not in Slack yet")
    resolution = await alert_resolution(
        post.session, delivery_id=view.delivery_id, organisation_id=post.organisation_id
    )
    text, blocks = delivery_alert_message(view, post.notification.payload or {}, resolution)
    answer = await post.client.chat_postMessage(
        channel=view.slack_channel, thread_ts=view.slack_ts, text=text, blocks=blocks, unfurl_links=False
    )
    if resolution is not None:  # posted already resolved: never rewritten again
        await mark_alert_resolved(post.session, notification_id=post.notification.id, resolution=resolution)
    await post.posted(Posted(str(answer.get("channel")), str(answer.get("ts"))))
    await _refresh_status(post, view.slack_channel, view.slack_ts)


async def _refresh_status(post: SlackPost, channel: str, ts: str) -> None:
    """Rewrite the status message after an alert; if Slack says no now, owe it as a row."""
    alert = post.notification
    assert alert.delivery_id is not None
    view = await delivery_status_view(post.session, delivery_id=alert.delivery_id)
    text, blocks = status_message(view)
    try:
        await post.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as error:
        log.warning("status message of send %s not refreshed (%s); queued", alert.delivery_id, type(error).__name__)
        await enqueue_notification(
            post.session,
            NotificationRequest(
                organisation_id=alert.organisation_id,
                delivery_id=alert.delivery_id,
                kind=NotificationKind.DELIVERY_STATUS,
                channel=channel,
                payload={"status": view.status},
            ),
            now=post.now(),
        )
        await post.save()


async def update_resolved_alerts(post: SlackPost) -> None:
    """Rewrite in place each posted alert of the invoice whose problem is over: no buttons,
    who resolved it and how. Each rewrite is recorded at once, so a retry skips it."""
    view = post.view
    for alert in await resolved_alerts(
        post.session, delivery_id=view.delivery_id, organisation_id=post.organisation_id
    ):
        alert_view = await delivery_status_view(post.session, delivery_id=alert.delivery_id)
        if not alert_view.slack_channel:
            raise PostLater("the alert's status message has no channel yet")
        text, blocks = delivery_alert_message(alert_view, alert.payload, alert.resolution)
        await post.client.chat_update(channel=alert_view.slack_channel, ts=alert.ts, text=text, blocks=blocks)
        await mark_alert_resolved(post.session, notification_id=alert.notification_id, resolution=alert.resolution)
        await post.save()
    await post.posted(Posted(view.slack_channel or "", view.slack_ts or ""))


@dataclass(frozen=True)
class OrganisationPost:
    """An owed post about the organisation, not about one send (the digest): no send's view."""

    notification: Notification
    client: AsyncWebClient
    default_channel: str | None
    posted: Callable[[Posted], Awaitable[None]]  # commits the ts at once


async def post_digest(post: OrganisationPost) -> None:
    """The daily digest in the notify channel (the row's channel, else the organisation's)."""
    await _post_in_channel(post, "the digest", digest_message)


async def post_autosend_notice(post: OrganisationPost) -> None:
    """What an autosend round asked for, and what it left for a person, in the notify channel."""
    await _post_in_channel(post, "autosend's note", autosend_message)


async def post_window_preview(post: OrganisationPost) -> None:
    """What the send window lets out at its next opening, with *Review* and *Skip today*."""
    await _post_in_channel(post, "the send window's preview", window_preview_message)


async def update_window_preview(post: OrganisationPost) -> None:
    """The preview rewritten in place after a person stopped some of it (a new post if its ts is unknown)."""
    channel = post.notification.channel or post.default_channel
    if not channel:
        raise PostLater("no channel to rewrite the send window's preview in: set the notify channel")
    payload = post.notification.payload or {}
    text, blocks = window_preview_stopped_message(payload)
    ts = str(payload.get("ts") or "")
    if ts:
        await post.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    else:
        ts = str((await post.client.chat_postMessage(channel=channel, text=text, blocks=blocks))["ts"])
    await post.posted(Posted(channel, ts))


async def post_reminders_notice(post: OrganisationPost) -> None:
    """What the reminder scheduler caught up after an outage, or could not send, in the notify channel."""
    await _post_in_channel(post, "the reminders' note", reminders_message)


async def _post_in_channel(
    post: OrganisationPost, what: str, message: Callable[[Mapping[str, Any]], tuple[str, list[Block]]]
) -> None:
    channel = post.notification.channel or post.default_channel
    if not channel:
        raise PostLater(f"no channel to post {what} in: set the notify channel")
    text, blocks = message(post.notification.payload or {})
    answer = await post.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
    await post.posted(Posted(str(answer.get("channel") or channel), str(answer["ts"])))


ORGANISATION_RENDERERS: Mapping[NotificationKind, Callable[[OrganisationPost], Awaitable[None]]] = {
    NotificationKind.DIGEST: post_digest,
    NotificationKind.AUTOSEND: post_autosend_notice,
    NotificationKind.WINDOW_PREVIEW: post_window_preview,
    NotificationKind.WINDOW_PREVIEW_STOPPED: update_window_preview,
    NotificationKind.REMINDERS: post_reminders_notice,
}
RENDERERS: Mapping[NotificationKind, Renderer] = {
    NotificationKind.DELIVERY_STATUS: post_delivery_status,
    NotificationKind.APPROVAL_REQUEST: post_approval_request,
    NotificationKind.APPROVAL_DECIDED: update_approval_decided,
    NotificationKind.DELIVERY_ALERT: post_delivery_alert,
    NotificationKind.ALERTS_RESOLVED: update_resolved_alerts,
    NotificationKind.DELIVERY_NOTE: post_delivery_note,
}
