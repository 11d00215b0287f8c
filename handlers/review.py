"""*Review & send*: open the modal, switch its language, and turn its submission into a delivery.

The trigger id dies 3 seconds after the click, so a small "Loading…" modal opens first
and the filled one replaces it (`views.update` with the hash). A submission's typos (what
needs no database) come back at once as inline errors keyed by block id
(`response_action: errors`); otherwise it is acked with "⏳ Sending…" and the send is asked
for after the ack, so a slow database never makes Slack show a failure. The working view
is then updated with the outcome, or with the modal rebuilt from what was typed and what
to answer (a suppressed address, a send that happened meanwhile, a refusal). The modal is
never lost. The idempotency key is the view id, so a double submit or a Slack retry
creates one delivery.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.after_ack import finish_in_view, working_view
from handlers.blocks.elements import escape
from handlers.blocks.review import View, loading_view, message_view, queued_words, review_view
from handlers.context import Session, SessionFactory, Workplace
from handlers.errors import InView, OnField, answering_errors, describe_error, error_view
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.parsing import actor_of
from handlers.review_form import (
    ReviewForm,
    ReviewMetadata,
    SubmittedReview,
    block_ids_of,
    message_block_id,
    parse_review_state,
    subject_block_id,
)
from handlers.review_policy import SendPolicy
from handlers.slack_files import SlackFile, describe_files, download_files
from services.email.addresses import split_addresses
from services.errors import DomainError, FieldErrors
from services.sending.checks import check_typed_request
from services.sending.extra_files import ExtraFile, FileFacts, check_extra_sizes
from services.sending.requests import DeliveryRequest, ResendNeedsConfirmation
from services.sending.review import ReviewRequest, prepare_review
from services.unit_of_work import UnitsOfWork
from services.use_cases import ask_for_send

log = logging.getLogger("invoicebot.slack")
TITLE = "Send invoice"


async def _form(
    session: Session,
    *,
    number: str,
    workplace: Workplace,
    policy: SendPolicy,
    language: str | None = None,
    text: str | None = None,
) -> ReviewForm:
    now = policy.send.clock()
    draft = await prepare_review(
        session,
        ReviewRequest(
            organisation_id=workplace.organisation_id,
            invoice_number=number,
            public_url=policy.public_url,
            now=now,
            sending=workplace.sending,
            language=language,
            risk_rule=policy.rules.new_recipients,
            text=text,
        ),
    )
    return ReviewForm.from_draft(
        draft, recent=draft.recent.question(draft.invoice_number, now) if draft.recent else None
    )


@answering_errors
async def handle_review_open_action(
    ack: AsyncAck,
    respond: AsyncRespond,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    await ack()
    opened = await client.views_open(trigger_id=body["trigger_id"], view=loading_view())
    view_id, view_hash = opened["view"]["id"], opened["view"]["hash"]
    number = str(action.get("value", ""))
    try:
        async with sessions() as session:
            form = await _form(session, number=number, workplace=workplace, policy=send_policy)
        view = review_view(form, metadata=ReviewMetadata(form.invoice_number))
    except DomainError as error:  # said in the modal just opened (not the one in the body)
        view = error_view(TITLE, error)
    await client.views_update(view_id=view_id, hash=view_hash, view=view)


@answering_errors(where=InView(TITLE))  # the modal then says why instead of silently staying stale
async def handle_review_language_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Re-render subject and message in the chosen language and preset text; keep recipients and options as typed.

    Also the listener of the *Text* select: choosing a text replaces subject and message (edits
    included); a language without the chosen text falls back to the customer's default, else Standard.
    """
    await ack()
    view = body.get("view") or {}
    metadata = ReviewMetadata.decode(view.get("private_metadata"))
    submitted = parse_review_state(view)
    async with sessions() as session:
        form = await _form(
            session,
            number=metadata.invoice_number,
            workplace=workplace,
            policy=send_policy,
            language=submitted.language,
            text=submitted.text,
        )
    updated = review_view(form.typed(submitted), metadata=metadata)
    await client.views_update(view_id=view["id"], hash=view.get("hash"), view=updated)


async def _requester_email(client: AsyncWebClient, user_id: str) -> str | None:
    """The requester's own address for a preview; None when Slack will not say (the form then asks)."""
    try:
        answer = await client.users_info(user=user_id)
    except SlackApiError as error:
        log.warning("users.info failed for a preview: %s", error.response.get("error"))
        return None
    return ((answer.get("user") or {}).get("profile") or {}).get("email") or None


FIELD_BLOCKS = {
    "to": BlockId.REVIEW_TO,
    "cc": BlockId.REVIEW_CC,
    "bcc": BlockId.REVIEW_BCC,
    "preview_first": BlockId.REVIEW_OPTIONS,
    "override_suppression": BlockId.REVIEW_OVERRIDE,
    "language": BlockId.REVIEW_LANGUAGE,
    "attachments": BlockId.REVIEW_ATTACHMENTS,
    "extra_files": BlockId.REVIEW_FILES,
}
PRE_ACK_SECONDS = 1.5  # files.info's budget before the ack; slower, and the files are checked after it


def field_errors_by_block(errors: dict[str, str], *, language: str, shown: set[str], text: str = "") -> dict[str, str]:
    """The service's field names → this modal's block ids; a field with no block lands on To."""
    blocks = FIELD_BLOCKS | {"subject": subject_block_id(language, text), "message": message_block_id(language, text)}
    mapped: dict[str, str] = {}
    for field_name, sentence in errors.items():
        block_id = str(blocks.get(field_name, BlockId.REVIEW_TO))
        block_id = block_id if block_id in shown else BlockId.REVIEW_TO
        mapped[block_id] = f"{mapped[block_id]} {sentence}" if block_id in mapped else sentence
    return mapped


def _request(
    metadata: ReviewMetadata, submitted: SubmittedReview, *, user: str, email: str | None, key: str | None
) -> DeliveryRequest:
    return DeliveryRequest(
        invoice_number=metadata.invoice_number,
        to=split_addresses(submitted.to),
        cc=split_addresses(submitted.cc),
        bcc=split_addresses(submitted.bcc),
        subject=submitted.subject,
        message=submitted.message,
        language=submitted.language,
        attachments=submitted.attachments,  # checked by the service: an unknown choice is refused
        preview_first=submitted.preview_first,
        override_suppression=submitted.override_suppression,
        show_notes=submitted.show_notes,
        requested_by=user,
        requester_email=email,
        idempotency_key=key,
        confirm_resend=submitted.confirm_resend,
    )


async def _rebuilt(
    sessions: SessionFactory,
    metadata: ReviewMetadata,
    submitted: SubmittedReview,
    *,
    workplace: Workplace,
    policy: SendPolicy,
    **changes: Any,
) -> View:
    """The modal again, exactly as typed, with a new question on it (`changes`)."""
    async with sessions() as session:
        form = await _form(
            session,
            number=metadata.invoice_number,
            workplace=workplace,
            policy=policy,
            language=submitted.language,
            text=submitted.text,
        )
    typed = replace(form.typed(submitted), subject=submitted.subject, message=submitted.message, **changes)
    return review_view(typed, metadata=metadata)


TypedReview = tuple[ReviewMetadata, SubmittedReview, DeliveryRequest]


def _typed_request(body: dict[str, Any], view: dict[str, Any]) -> TypedReview:
    """The submission as a request, refused (InvalidInput, FieldErrors) on what needs no database."""
    metadata = ReviewMetadata.decode(view.get("private_metadata"))
    submitted = parse_review_state(view)
    request = _request(metadata, submitted, user=actor_of(body).user_id, email=None, key=view.get("id"))
    check_typed_request(request)
    return metadata, submitted, request


async def _files_before_ack(client: AsyncWebClient, file_ids: tuple[str, ...]) -> tuple[SlackFile, ...] | None:
    """The files' names and sizes from Slack, refused (FieldErrors) over a limit so it is said inline;
    None when Slack is too slow to answer within the ack's budget (then they are checked after it)."""
    if not file_ids:
        return ()
    try:
        files = await asyncio.wait_for(describe_files(client, file_ids), PRE_ACK_SECONDS)
    except TimeoutError:
        return None
    check_extra_sizes([FileFacts(f.name, f.size) for f in files])
    return files


async def _extra_files(
    client: AsyncWebClient, file_ids: tuple[str, ...], described: tuple[SlackFile, ...] | None
) -> tuple[ExtraFile, ...]:
    """The files' bytes (the service checks their types and sizes again, from the bytes)."""
    if described is None:
        described = await describe_files(client, file_ids)
        check_extra_sizes([FileFacts(f.name, f.size) for f in described])
    return await download_files(client, described)


async def _submission_outcome(
    typed: TypedReview,
    *,
    files: tuple[SlackFile, ...] | None,
    shown: set[str],
    client: AsyncWebClient,
    sessions: SessionFactory,
    units: UnitsOfWork,
    workplace: Workplace,
    policy: SendPolicy,
) -> View:
    """After the ack: ask for the send; the outcome, or the form again as typed with what to answer."""
    metadata, submitted, request = typed

    async def rebuilt(**changes: Any) -> View:
        return await _rebuilt(sessions, metadata, submitted, workplace=workplace, policy=policy, **changes)

    if submitted.preview_first:
        request = replace(request, requester_email=await _requester_email(client, request.requested_by))
    try:
        request = replace(request, extra_files=await _extra_files(client, submitted.file_ids, files))
        asked = await ask_for_send(
            units, send=policy.send, organisation_id=workplace.organisation_id, sending=workplace.sending,
            request=request,
        )  # fmt: skip
    except FieldErrors as error:
        if "override_suppression" in error.errors and BlockId.REVIEW_OVERRIDE not in shown:
            suppressed = (error.errors["override_suppression"],)
            return await _rebuilt(
                sessions, metadata, submitted, workplace=workplace, policy=policy, suppressed=suppressed
            )
        problems = tuple(error.errors.values())
        return await _rebuilt(sessions, metadata, submitted, workplace=workplace, policy=policy, problems=problems)
    except ResendNeedsConfirmation as error:
        question = ("Tick “Send again anyway” to send it again.",) if BlockId.REVIEW_RESEND in shown else ()
        return await rebuilt(recent=str(error), problems=question)
    except DomainError as error:  # not allowed, not ready: said on the form, which can be sent again later
        return await rebuilt(problems=(describe_error(error),))
    approvers = sorted(policy.rules.approvers_for(request.requested_by))
    text = queued_words(
        metadata.invoice_number, awaiting_approval=asked.awaiting_approval, approvers=approvers, preview=asked.preview
    )
    return message_view(TITLE, text)


@answering_errors(where=OnField(BlockId.REVIEW_TO))  # a sentence or a reference id on the form: never a lost modal
async def handle_review_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Typos and files over a limit inline at once; else ack "⏳ Sending…", finish after it (handlers.after_ack)."""
    try:
        typed = _typed_request(body, view)
        files = await _files_before_ack(client, typed[1].file_ids)
    except FieldErrors as error:
        shown = block_ids_of(view)
        state = parse_review_state(view)
        errors = field_errors_by_block(error.errors, language=state.language, shown=shown, text=state.text)
        await ack(response_action="errors", errors=errors)
        return
    await ack(response_action="update", view=working_view(TITLE, f"Sending {escape(typed[0].invoice_number)}…"))
    outcome = _submission_outcome(
        typed, files=files, shown=block_ids_of(view), client=client, sessions=sessions, units=units,
        workplace=workplace, policy=send_policy,
    )  # fmt: skip
    nothing = "Nothing was sent. Close this and press Review & send again."
    await finish_in_view(client, view_id=str(view.get("id") or ""), title=TITLE, outcome=outcome, nothing_done=nothing)


def register(app: AsyncApp) -> None:
    app.action(ActionId.REVIEW_AND_SEND)(handle_review_open_action)
    app.action(ActionId.REVIEW_LANGUAGE)(handle_review_language_action)
    app.action(ActionId.REVIEW_TEXT)(handle_review_language_action)
    app.view(CallbackId.REVIEW)(handle_review_submission)
