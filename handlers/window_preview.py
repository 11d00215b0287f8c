"""*Review* and *Skip today* on the send window's preview (services/reminders/preview.py).

Thin: the buttons carry the organisation's local day the preview is for; who may stop scheduled
mail (senders) and what can still be stopped (not yet dispatched) are the service's call
(services/reminders/preview_stops.py). Afterwards the preview message itself says who stopped
what, so the channel sees it where it saw the announcement.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.review import message_view
from handlers.blocks.window_preview import (
    TITLE,
    ReviewTarget,
    review_modal,
    target_of,
    unticked,
    window_preview_message,
    with_outcome,
)
from handlers.context import SessionFactory, Workplace
from handlers.errors import InView, answering_errors
from handlers.ids import ActionId, CallbackId
from handlers.parsing import actor_of
from handlers.review_policy import SendPolicy
from services.authorization import Action, authorize
from services.errors import InvalidInput
from services.reminders.preview import preview_payload, scheduled_on
from services.reminders.preview_stops import Stopped, StopRequest, stop_scheduled
from services.unit_of_work import UnitsOfWork

STALE = "This preview names no day; it is from an older message."


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        raise InvalidInput(STALE) from None


def _message_of(body: dict[str, Any]) -> tuple[str, str, list[Any]]:
    """The clicked preview's channel, ts and blocks (the blocks when Slack sent the message along)."""
    container, message = body.get("container") or {}, body.get("message") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    return channel, str(container.get("message_ts") or message.get("ts") or ""), list(message.get("blocks") or [])


def _count(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def stopped_words(done: Stopped, actor: str) -> str:
    """ "1 reminder and 1 invoice stopped by @x" (and what was too late), for the message and the modal."""
    parts = [_count(done.reminders, "reminder")] if done.reminders else []
    parts += [_count(done.invoices, "invoice")] if done.invoices else []
    line = f"✋ {' and '.join(parts) or 'Nothing'} stopped by <@{actor}>"
    return line + (f" ({'; '.join(done.too_late)}: too late to stop)" if done.too_late else "")


@answering_errors
async def handle_skip_today_action(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    respond: AsyncRespond,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    actor = actor_of(body).user_id
    request = StopRequest(
        organisation_id=workplace.organisation_id, rules=send_policy.rules, actor=actor,
        local_day=_day(action.get("value")), now=send_policy.send.clock(), whole_day=True,
    )  # fmt: skip
    done = await stop_scheduled(units, request)
    line = f"⏭️ Skipped for today by <@{actor}>: {_count(done.reminders, 'reminder')} stopped, no autosend today."
    channel, ts, shown = _message_of(body)
    await client.chat_update(channel=channel, ts=ts, text=line, blocks=with_outcome(shown, line, keep_buttons=False))


@answering_errors
async def handle_review_action(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    respond: AsyncRespond,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Senders only (a refusal is said where they clicked); the modal lists what still goes out that day."""
    await ack()
    authorize(send_policy.rules, actor_of(body).user_id, Action.SEND)
    day = _day(action.get("value"))
    async with sessions() as session:
        found = await scheduled_on(session, organisation_id=workplace.organisation_id, local_day=day)
    if found.empty:
        raise InvalidInput("What this preview listed has gone out or was stopped already: nothing is left to review.")
    channel, ts, _ = _message_of(body)
    target = ReviewTarget(day.isoformat(), channel, ts)
    await client.views_open(trigger_id=body["trigger_id"], view=review_modal(found, target))


@answering_errors(where=InView(TITLE, nothing_done="Nothing was stopped."))
async def handle_review_submission(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    units: UnitsOfWork,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Stop the unticked rows (one short transaction, before the ack), then rewrite the preview message."""
    target = target_of(view)
    reminder_ids, numbers = unticked(view)
    actor = actor_of(body).user_id
    request = StopRequest(
        organisation_id=workplace.organisation_id, rules=send_policy.rules, actor=actor,
        local_day=_day(target.day), now=send_policy.send.clock(), reminder_ids=reminder_ids, invoice_numbers=numbers,
    )  # fmt: skip
    done = await stop_scheduled(units, request)
    line = stopped_words(done, actor)
    await ack(response_action="update", view=message_view(TITLE, line))
    async with sessions() as session:
        found = await scheduled_on(session, organisation_id=workplace.organisation_id, local_day=request.local_day)
    _, blocks = window_preview_message(preview_payload(found))  # what still goes out, then who stopped what
    await client.chat_update(
        channel=target.channel, ts=target.ts, text=line, blocks=with_outcome(blocks, line, keep_buttons=True)
    )


def register(app: AsyncApp) -> None:
    app.action(ActionId.PREVIEW_SKIP_TODAY)(handle_skip_today_action)
    app.action(ActionId.PREVIEW_REVIEW)(handle_review_action)
    app.view(CallbackId.PREVIEW_REVIEW)(handle_review_submission)
