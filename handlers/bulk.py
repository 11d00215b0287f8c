"""*Send all ready (N)*: one confirmation modal listing every ready invoice, then one delivery each.

The confirmation lists every ready due invoice (of the listing's customer filter, if any),
across all pages, up to what one confirmation can carry; press again for the rest.
Submitting calls `request_bulk_delivery` with the view id as idempotency key, so a
double submit or a Slack retry creates nothing new; the modal then shows what was asked
for and what was skipped, with the reasons.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks_bulk import BulkItem, BulkResultLine, bulk_confirmation_view, bulk_result_view, decode_numbers
from handlers.blocks_review import loading_view, message_view
from handlers.context import SessionFactory, Workplace
from handlers.errors import answering_errors, describe_error
from handlers.ids import ActionId, CallbackId
from handlers.parsing import DueListing, actor_of
from handlers.review_policy import SendPolicy
from services.bulk_delivery import request_bulk_delivery
from services.db.models import utcnow
from services.due import list_ready_due_invoices
from services.formatting import format_money

# At most this many invoices per bulk send (one confirmation, one click).
BULK_LIMIT = 500


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
            organisation_id=workplace.organisation_id,
            today=workplace.today,
            sending=workplace.sending,
            customer=listing.customer,
            limit=BULK_LIMIT,
        )
    items = [
        BulkItem(
            item.number, item.customer_name, format_money(item.total, item.currency, workplace.locale), item.recipients
        )
        for item in ready.items
    ]
    view = (
        bulk_confirmation_view(items) if items else message_view("Send all ready", "No due invoice is ready to send.")
    )
    await client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"], view=view)


def _status_words(status: str, created: bool) -> str:
    if not created:
        return "already asked for"
    return "waiting for approval" if status == "awaiting_approval" else "queued"


async def handle_bulk_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    try:
        numbers = decode_numbers(view.get("private_metadata"))
        async with sessions() as session:
            outcome = await request_bulk_delivery(
                session,
                organisation_id=workplace.organisation_id,
                invoice_numbers=numbers,
                requested_by=actor_of(body).user_id,
                rules=send_policy.rules,
                sending=workplace.sending,
                now=utcnow(),
                message_id_domain=send_policy.message_id_domain,
                verp_secret=send_policy.verp_secret(),
                public_url=send_policy.public_url,
                idempotency_key=str(view.get("id") or ""),
            )
            await session.commit()
            skipped = {item.invoice_number: "; ".join(item.reasons) for item in outcome.skipped}
            # The service asks in the order given; what it did not skip is what it requested.
            asked = [n for n in dict.fromkeys(n.strip() for n in numbers if n.strip()) if n not in skipped]
            lines = [
                BulkResultLine(number, _status_words(result.delivery.status, result.created), True)
                for number, result in zip(asked, outcome.requested, strict=True)
            ]
    except Exception as error:  # nothing was committed: say why in the modal rather than lose it
        text = f"⚠️ {describe_error(error)}\nNothing was sent."
        await ack(response_action="update", view=message_view("Send all ready", text))
        return
    lines += [BulkResultLine(number, reasons, False) for number, reasons in skipped.items()]
    await ack(response_action="update", view=bulk_result_view(lines))


def register(app: AsyncApp) -> None:
    app.action(ActionId.SEND_ALL_READY)(handle_send_all_ready_action)
    app.view(CallbackId.BULK)(handle_bulk_submission)
