"""*Review* and *Skip today* on the send window's preview (services/reminders/preview.py).

Thin: the buttons carry the organisation's local day the preview is for; who may stop scheduled
mail (senders) and what can still be stopped (not yet dispatched) are the service's call
(services/reminders/preview_stops.py). The service also owes the preview's rewrite (who stopped
what), which the notifier makes: the channel sees it where it saw the announcement.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.review import message_view
from handlers.blocks.window_preview import TITLE, ReviewTarget, review_modal, stopped_words, target_of, unticked
from handlers.context import SessionFactory, Workplace
from handlers.errors import InView, answering_errors
from handlers.ids import ActionId, CallbackId
from handlers.parsing import actor_of
from handlers.review_policy import SendPolicy
from services.authorization import Action, authorize
from services.errors import InvalidInput
from services.reminders.preview import PreviewMessage, scheduled_on, stop_from_preview
from services.reminders.preview_stops import StopRequest
from services.unit_of_work import UnitsOfWork

STALE = "This preview names no day; it is from an older message."


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        raise InvalidInput(STALE) from None


def _message_of(body: dict[str, Any]) -> PreviewMessage:
    """The clicked preview's channel and ts: where its rewrite goes."""
    container, message = body.get("container") or {}, body.get("message") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    return PreviewMessage(channel, str(container.get("message_ts") or message.get("ts") or ""))


@answering_errors
async def handle_skip_today_action(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    respond: AsyncRespond,
    body: dict[str, Any],
    action: dict[str, Any],
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    request = StopRequest(
        organisation_id=workplace.organisation_id, rules=send_policy.rules, actor=actor_of(body).user_id,
        local_day=_day(action.get("value")), now=send_policy.send.clock(), whole_day=True,
    )  # fmt: skip
    await stop_from_preview(units, request, _message_of(body))


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
    message = _message_of(body)
    target = ReviewTarget(day.isoformat(), message.channel, message.ts)
    await client.views_open(trigger_id=body["trigger_id"], view=review_modal(found, target))


@answering_errors(where=InView(TITLE, nothing_done="Nothing was stopped."))
async def handle_review_submission(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,  # the wrapper shows a late error in the modal through it
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Stop the unticked rows in one short transaction before the ack; the notifier rewrites the preview."""
    target = target_of(view)
    reminder_ids, numbers = unticked(view)
    actor = actor_of(body).user_id
    request = StopRequest(
        organisation_id=workplace.organisation_id, rules=send_policy.rules, actor=actor,
        local_day=_day(target.day), now=send_policy.send.clock(), reminder_ids=reminder_ids, invoice_numbers=numbers,
    )  # fmt: skip
    done = await stop_from_preview(units, request, PreviewMessage(target.channel, target.ts))
    words = {"actor": actor, "reminders": done.reminders, "invoices": done.invoices, "too_late": list(done.too_late)}
    await ack(response_action="update", view=message_view(TITLE, stopped_words(words)))


def register(app: AsyncApp) -> None:
    app.action(ActionId.PREVIEW_SKIP_TODAY)(handle_skip_today_action)
    app.action(ActionId.PREVIEW_REVIEW)(handle_review_action)
    app.view(CallbackId.PREVIEW_REVIEW)(handle_review_submission)
