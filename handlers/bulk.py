"""*Send all ready (N)*: one confirmation modal listing every ready invoice, then one delivery each.

The confirmation lists the ready due invoices (of the listing's customer filter, if any),
across all pages, up to `MAX_BULK_INVOICES` (the service's limit) and what one
confirmation can carry, and says how many wait for the next run. Submitting acks
"⏳ Sending…" at once (a bulk takes longer than Slack's 3 seconds), then calls
`request_bulk_delivery` with the view id as idempotency key, so a double submit or a
Slack retry creates nothing new; the modal is then updated with what was asked for and
what was skipped, with the reasons.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.after_ack import finish_in_view, working_view
from handlers.blocks.bulk import BulkItem, BulkResultLine, bulk_confirmation_view, bulk_result_view, decode_numbers
from handlers.blocks.review import View, loading_view, message_view
from handlers.context import SessionFactory, Workplace
from handlers.errors import InView, answering_errors
from handlers.ids import ActionId, CallbackId
from handlers.parsing import DueListing, actor_of
from handlers.review_policy import SendPolicy
from services.formatting import format_money
from services.sending.bulk import BulkRequest, check_bulk_size
from services.sending.due import DueQuery, list_ready_due_invoices
from services.unit_of_work import UnitsOfWork
from services.use_cases import ask_for_bulk_send

TITLE = "Send all ready"


@answering_errors
async def handle_send_all_ready_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
) -> None:
    await ack()
    opened = await client.views_open(trigger_id=body["trigger_id"], view=loading_view("Send all ready"))
    listing = DueListing.decode(str(action.get("value", "")))
    async with sessions() as session:
        ready = await list_ready_due_invoices(
            session,
            DueQuery(
                organisation_id=workplace.organisation_id,
                today=workplace.today,
                sending=workplace.sending,
                customer=listing.customer,
            ),
        )
    items = [
        BulkItem(
            item.number, item.customer_name, format_money(item.total, item.currency, workplace.locale), item.recipients
        )
        for item in ready.items
    ]
    nothing_ready = message_view(TITLE, "No due invoice is ready to send.")
    view = bulk_confirmation_view(items, more=ready.more) if items else nothing_ready
    await client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"], view=view)


def _status_words(awaiting_approval: bool, created: bool) -> str:
    if not created:
        return "already asked for"
    return "waiting for approval" if awaiting_approval else "queued"


async def _bulk_outcome(
    numbers: list[str],
    *,
    requested_by: str,
    view_id: str,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> View:
    """Ask for every confirmed invoice (after the ack) and say what was asked and what was skipped."""
    outcome = await ask_for_bulk_send(
        units,
        send=send_policy.send,
        organisation_id=workplace.organisation_id,
        sending=workplace.sending,
        request=BulkRequest(
            invoice_numbers=numbers, requested_by=requested_by, public_url=send_policy.public_url,
            idempotency_key=view_id,
        ),
    )  # fmt: skip
    lines = [
        BulkResultLine(number, _status_words(asked.awaiting_approval, asked.created), True)
        for number, asked in outcome.asked
    ]
    lines += [BulkResultLine(item.invoice_number, "; ".join(item.reasons), False) for item in outcome.skipped]
    return bulk_result_view(lines)


@answering_errors(where=InView(TITLE, nothing_done="Nothing was sent."))
async def handle_bulk_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Check the confirmation, ack "⏳ Sending…" at once, then ask for each invoice and show the outcome.

    The view id is the idempotency key of every invoice's send: a double submit creates nothing new.
    """
    numbers = decode_numbers(view.get("private_metadata"))
    check_bulk_size(numbers)  # refused in the modal (the wrapper's InView), before anything is asked
    count = f"{len(numbers)} invoice" + ("" if len(numbers) == 1 else "s")
    await ack(response_action="update", view=working_view(TITLE, f"Sending {count}…"))
    view_id = str(view.get("id") or "")
    outcome = _bulk_outcome(
        numbers, requested_by=actor_of(body).user_id, view_id=view_id, units=units, workplace=workplace,
        send_policy=send_policy,
    )  # fmt: skip
    nothing = "Nothing was sent. Close this and press Send all ready in /invoices due to try again."
    await finish_in_view(client, view_id=view_id, title=TITLE, outcome=outcome, nothing_done=nothing)


def register(app: AsyncApp) -> None:
    app.action(ActionId.SEND_ALL_READY)(handle_send_all_ready_action)
    app.view(CallbackId.BULK)(handle_bulk_submission)
