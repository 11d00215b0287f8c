"""`/invoices settings` and App Home's *Settings* button: the admins' modal, and its submission.

Opening: the service decides who may (`settings_to_edit` authorises before it reads), so a
non-admin gets its refusal as an ephemeral sentence and no modal. Submitting: what only Slack
knows is asked first, all at once and each call bounded by `SLACK_CHECK_SECONDS` (the answer is
due within Slack's 3 s) — each chosen user group's members (`usergroups.users.list`) and whether
the bot is in each chosen channel (`conversations.info`, handlers.channel_membership); a call
that does not answer in time is an error on its field — then one use case checks, stores,
versions and audits the whole form. Any bad value comes back inline on its field
(`response_action: errors`) and nothing is saved.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.review import message_view
from handlers.blocks.settings import (
    ROLES,
    TITLE,
    block_id,
    errors_on_blocks,
    parse_settings,
    saved_words,
    settings_view,
)
from handlers.channel_membership import ChannelMembership, channel_membership
from handlers.context import SessionFactory, UnitsOfWork, Workplace
from handlers.errors import OnField, answering_errors
from handlers.ids import COMMAND, ActionId, CallbackId
from handlers.parsing import parse_invoices_command
from handlers.review_policy import SendPolicy
from services.errors import FieldErrors
from services.invoicing.settings import GROUP_ID, SettingsForm
from services.use_cases import SettingsChange, change_organisation_settings, organisation_settings_form

log = logging.getLogger("invoicebot.slack")
CHANNEL_FIELDS = ("notify_channel", "approvers_channel")
SLACK_CHECK_SECONDS = 1.5  # each Slack call before the ack; all run at once, well within Slack's 3 s


async def _workspace_groups(client: AsyncWebClient) -> dict[str, str]:
    """The workspace's user groups (id → handle); none when Slack refuses (scope missing, free plan)."""
    try:
        answer = await client.usergroups_list()
    except SlackApiError as refused:
        log.info("usergroups.list refused (%s): the settings modal offers no groups", refused.response.get("error"))
        return {}
    return {str(group["id"]): str(group.get("handle") or group["id"]) for group in answer.get("usergroups") or []}


async def _form_for(user: str, *, sessions: SessionFactory, workplace: Workplace, policy: SendPolicy) -> SettingsForm:
    """The stored settings as a form; NotAllowed for a non-admin (before the ack: its answer)."""
    async with sessions() as session:
        return await organisation_settings_form(
            session, organisation_id=workplace.organisation_id, rules=policy.send.rules, actor=user
        )


async def _open(client: AsyncWebClient, trigger_id: str, form: SettingsForm) -> None:
    await client.views_open(trigger_id=trigger_id, view=settings_view(form, groups=await _workspace_groups(client)))


@answering_errors
async def handle_settings_command(
    ack: AsyncAck,
    client: AsyncWebClient,
    command: dict[str, Any],
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    form = await _form_for(str(command.get("user_id", "")), sessions=sessions, workplace=workplace, policy=send_policy)
    await ack()
    await _open(client, str(command.get("trigger_id", "")), form)


@answering_errors
async def handle_settings_home_button(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    sessions: SessionFactory,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    user = str((body.get("user") or {}).get("id", ""))
    form = await _form_for(user, sessions=sessions, workplace=workplace, policy=send_policy)
    await ack()
    await _open(client, str(body.get("trigger_id", "")), form)


async def _group_members(client: AsyncWebClient, group: str) -> tuple[str, ...] | str:
    """The group's members as Slack lists them now, or why Slack did not (a refusal, no answer in time)."""
    try:
        answer = await asyncio.wait_for(client.usergroups_users_list(usergroup=group), timeout=SLACK_CHECK_SECONDS)
    except SlackApiError as refused:
        return f"Slack would not list this group's members ({refused.response.get('error')})"
    except TimeoutError:
        return "Slack did not list this group's members in time: save again."
    return tuple(str(user) for user in answer.get("users") or [])


async def _with_group_members(client: AsyncWebClient, form: SettingsForm, errors: dict[str, str]) -> SettingsForm:
    """The form with each chosen group's members, all groups asked at once; a failure is on its role's field."""
    chosen = {role: [entry for entry in getattr(form, role) if GROUP_ID.match(entry)] for role, _label in ROLES}
    groups = sorted({group for entries in chosen.values() for group in entries})
    answers = dict(zip(groups, await asyncio.gather(*(_group_members(client, group) for group in groups)), strict=True))
    for role, entries in chosen.items():
        for group in entries:
            answer = answers[group]
            if isinstance(answer, str):
                errors.setdefault(f"{role}_groups", answer)
    members = {group: answer for group, answer in answers.items() if not isinstance(answer, str)}
    return replace(form, group_members=members)


def _channel_error(found: ChannelMembership) -> str | None:
    """What the admin reads on the channel's field, or None: the bot is in it."""
    if found.timed_out:
        return "Slack did not say in time whether the bot is in this channel: save again."
    if found.refused is not None or found.unreachable is not None:
        why = found.refused or found.unreachable
        return f"The bot cannot see this channel ({why}): type /invite @invoicebot in it, then save again."
    if not found.member:
        return "The bot is not in this channel: type /invite @invoicebot in it, then save again."
    return None


async def _check_channels(client: AsyncWebClient, form: SettingsForm, errors: dict[str, str]) -> None:
    """The bot must be a member of each chosen channel, or its posts would fail; say how to invite it."""
    fields = [(field, str(getattr(form, field))) for field in CHANNEL_FIELDS if getattr(form, field)]
    found = await asyncio.gather(
        *(channel_membership(client, channel, wait_seconds=SLACK_CHECK_SECONDS) for _field, channel in fields)
    )
    for (field, _channel), membership in zip(fields, found, strict=True):
        error = _channel_error(membership)
        if error is not None:
            errors[field] = error


@answering_errors(where=OnField(block_id("admins")))  # a sentence or a reference on the form: never a lost modal
async def handle_settings_submission(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    units: UnitsOfWork,
    workplace: Workplace,
    send_policy: SendPolicy,
) -> None:
    errors: dict[str, str] = {}
    parsed = parse_settings(body.get("view") or {})
    # What only Slack knows, asked all at once and each bounded: the ack is due within Slack's 3 s.
    form, _ = await asyncio.gather(_with_group_members(client, parsed, errors), _check_channels(client, parsed, errors))
    try:
        changes = await change_organisation_settings(
            units,
            organisation_id=workplace.organisation_id,
            actor=str((body.get("user") or {}).get("id", "")),
            change=SettingsChange(form=form, rules=send_policy.send.rules, found=errors),
        )
    except FieldErrors as error:
        await ack(response_action="errors", errors=errors_on_blocks(error.errors))
        return
    await ack(response_action="update", view=message_view(TITLE, saved_words(changes)))


async def asks_for_settings(command: dict[str, Any]) -> bool:
    """`/invoices settings`: this module's listener takes it; every other subcommand is commands.py's."""
    return parse_invoices_command(command.get("text")).subcommand == "settings"


def register(app: AsyncApp) -> None:
    """Registered before commands.py's listener: Bolt runs the first listener whose matchers agree."""
    app.command(COMMAND, matchers=[asks_for_settings])(handle_settings_command)
    app.action(ActionId.OPEN_SETTINGS)(handle_settings_home_button)
    app.view(CallbackId.SETTINGS)(handle_settings_submission)
