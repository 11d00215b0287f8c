"""*Email texts* (from the settings modal): the admins list, add, edit and delete preset texts.

The list is pushed over the settings modal (`views.push`, so the settings form is kept), the
add/edit form over the list (Slack's stack holds three). Every service call authorises: a
non-admin's click gets the refusal as a pushed modal saying why, and nothing is shown or changed.
A bad template comes back inline on its field (`response_action: errors`) with the line and the
problem; a saved one closes the form, and the list under it is refreshed (`views.update`).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.elements import escape
from handlers.blocks.email_texts import (
    TITLE,
    errors_on_blocks,
    list_view_id_of,
    parse_text_form,
    parse_text_ref,
    text_form_view,
    texts_view,
)
from handlers.blocks.review import View
from handlers.context import SessionFactory, UnitsOfWork, Workplace
from handlers.errors import OnField, answering_errors, describe_error, describe_error_plain, error_view
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.parsing import actor_of
from handlers.review_policy import SendPolicy
from services.email.email_texts import (
    delete_email_text,
    email_text_to_edit,
    email_texts_to_edit,
    save_email_text,
)
from services.errors import DomainError, FieldErrors


async def _list(
    user: str, *, sessions: SessionFactory, workplace: Workplace, policy: SendPolicy, notice: str = ""
) -> View:
    async with sessions() as session:
        texts = await email_texts_to_edit(
            session, organisation_id=workplace.organisation_id, rules=policy.send.rules, actor=user
        )
    return texts_view(texts, notice=notice or None)


@answering_errors
async def handle_email_texts_open(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """*Email texts* in the settings modal: the list pushed over it, or why not (a non-admin)."""
    await ack()
    try:
        view = await _list(actor_of(body).user_id, sessions=sessions, workplace=workplace, policy=send_policy)
    except DomainError as error:
        view = error_view(TITLE, error)
    await client.views_push(trigger_id=str(body.get("trigger_id", "")), view=view)


@answering_errors
async def handle_email_text_form_open(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """*Add a text* or *Edit*: the form pushed over the list, filled with the stored text when editing."""
    await ack()
    list_view_id = str((body.get("view") or {}).get("id") or "")
    try:
        text = None
        if action.get("action_id") == ActionId.EDIT_EMAIL_TEXT:
            name, language = parse_text_ref(action.get("value"))
            async with sessions() as session:
                text = await email_text_to_edit(
                    session,
                    organisation_id=workplace.organisation_id,
                    name=name,
                    language=language,
                    rules=send_policy.send.rules,
                    actor=actor_of(body).user_id,
                )
        view = text_form_view(text, list_view_id=list_view_id)
    except DomainError as error:
        view = error_view(TITLE, error)
    await client.views_push(trigger_id=str(body.get("trigger_id", "")), view=view)


@answering_errors
async def handle_email_text_delete(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """*Delete* (confirmed by Slack's dialog): the list again, saying what happened or why not."""
    await ack()
    user = actor_of(body).user_id
    try:
        name, language = parse_text_ref(action.get("value"))
        await delete_email_text(
            units,
            organisation_id=workplace.organisation_id,
            name=name,
            language=language,
            actor=user,
            rules=send_policy.send.rules,
        )
        notice = f"🗑️ “{escape(name)}” ({escape(language)}) is deleted."
    except DomainError as error:
        notice = f"⚠️ {describe_error(error)}"
    view = body.get("view") or {}
    try:
        updated = await _list(user, sessions=sessions, workplace=workplace, policy=send_policy, notice=notice)
    except DomainError as error:
        updated = error_view(TITLE, error)
    await client.views_update(view_id=str(view.get("id") or ""), view=updated)


@answering_errors(where=OnField(BlockId.EMAIL_TEXT_NAME))  # a sentence on the form: never a lost modal
async def handle_email_text_submission(  # noqa: PLR0913 (Bolt injects its parts by name)
    ack: AsyncAck,
    body: dict[str, Any],
    view: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    """Checked and saved, or refused inline on its field; saved closes the form and refreshes the list."""
    edit = parse_text_form(view)
    user = actor_of(body).user_id
    try:
        created = await save_email_text(
            units, organisation_id=workplace.organisation_id, edit=edit, actor=user, rules=send_policy.send.rules
        )
    except FieldErrors as error:
        await ack(response_action="errors", errors=errors_on_blocks(error.errors))
        return
    except DomainError as error:
        await ack(response_action="errors", errors={BlockId.EMAIL_TEXT_NAME: describe_error_plain(error)})
        return
    await ack()  # closes this form: the list under it shows again
    notice = f"✅ “{escape(edit.name.strip())}” ({escape(edit.language)}) is {'added' if created else 'saved'}."
    list_view_id = list_view_id_of(view)
    if list_view_id:
        updated = await _list(user, sessions=sessions, workplace=workplace, policy=send_policy, notice=notice)
        await client.views_update(view_id=list_view_id, view=updated)


def register(app: AsyncApp) -> None:
    app.action(ActionId.OPEN_EMAIL_TEXTS)(handle_email_texts_open)
    app.action(ActionId.ADD_EMAIL_TEXT)(handle_email_text_form_open)
    app.action(ActionId.EDIT_EMAIL_TEXT)(handle_email_text_form_open)
    app.action(ActionId.DELETE_EMAIL_TEXT)(handle_email_text_delete)
    app.view(CallbackId.EMAIL_TEXT)(handle_email_text_submission)
