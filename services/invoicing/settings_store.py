"""An organisation's settings in the database: read them, seed them once, change them audited.

The row (`organisation_settings`) plus the legal details and From / Reply-To kept on the
`organisations` row make one `OrganisationSettingsValues`. The environment only seeds a
single-workspace install: `seed_settings` writes the row when there is none (first start) and
never again, so afterwards the database wins. Every change bumps `organisations.settings_version`
in the same transaction as the change and its audit entry (who, field → [old, new]); each
process compares that number, which it reads with the organisation row anyway, to the one it
cached (bot/organisation_settings.py), so a change reaches every web and worker process
without a restart and without an extra query.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.authorization import OPERATOR, Action, ApprovalPolicy, ApprovalRules, authorize
from services.db.models import Organisation, OrganisationSettingsRow
from services.errors import FieldErrors, NotFound
from services.invoicing.organisations import OrganisationProfile, ensure_organisation
from services.invoicing.send_window import DEFAULT_SEND_WINDOW
from services.invoicing.settings import (
    OrganisationSettingsValues,
    SettingsForm,
    check_seed,
    check_settings,
    form_of,
    from_name,
)
from services.postal_address import address_columns, postal_address_of
from services.unit_of_work import AuditEntry, UnitOfWork

SETTINGS_CHANGED = "settings_changed"


def values_of(organisation: Organisation, row: OrganisationSettingsRow) -> OrganisationSettingsValues:
    return OrganisationSettingsValues(
        senders=tuple(row.senders),
        approvers=tuple(row.approvers),
        admins=tuple(row.admins),
        group_members={group: tuple(users) for group, users in (row.group_members or {}).items()},
        approval_policy=ApprovalPolicy(row.approval_policy),
        approval_threshold=Decimal(row.approval_threshold),
        approve_new_recipients=bool(row.approve_new_recipients),
        notify_channel=row.notify_channel,
        approvers_channel=row.approvers_channel,
        sender_name=row.sender_name,
        sender_email=organisation.sender_email,
        reply_to=organisation.reply_to,
        bounce_domain=row.bounce_domain,
        legal_name=organisation.name,
        address=postal_address_of(organisation),
        tax_id=organisation.tax_id,
        default_language=organisation.default_language,
        default_currency=row.default_currency,
        cc=tuple(row.cc),
        bcc=tuple(row.bcc),
        iban=organisation.iban or None,
        bic=organisation.bic or None,
        account_holder=organisation.account_holder or "",
        silent_after_provider_hours=row.silent_after_provider_hours,
        silent_after_smtp_hours=row.silent_after_smtp_hours,
        time_zone=row.time_zone or "UTC",
        digest_hour=row.digest_hour,
        weekly_summary_day=row.weekly_summary_day or 0,
        send_window=row.send_window or DEFAULT_SEND_WINDOW,
        holiday_country=row.holiday_country or "",
        preview_lead=row.preview_lead or 0,
        autosend=bool(row.autosend),
    )


def _write(organisation: Organisation, row: OrganisationSettingsRow, values: OrganisationSettingsValues) -> None:
    row.senders, row.approvers, row.admins = list(values.senders), list(values.approvers), list(values.admins)
    row.group_members = {group: list(users) for group, users in values.group_members.items()}
    row.approval_policy = values.approval_policy.value
    row.approval_threshold = values.approval_threshold
    row.approve_new_recipients = values.approve_new_recipients
    row.notify_channel, row.approvers_channel = values.notify_channel, values.approvers_channel
    row.sender_name, row.bounce_domain = values.sender_name, values.bounce_domain
    row.default_currency = values.default_currency
    row.cc, row.bcc = list(values.cc), list(values.bcc)
    row.silent_after_provider_hours = values.silent_after_provider_hours
    row.silent_after_smtp_hours = values.silent_after_smtp_hours
    row.time_zone, row.digest_hour = values.time_zone, values.digest_hour
    row.weekly_summary_day = values.weekly_summary_day
    row.send_window, row.holiday_country = values.send_window, values.holiday_country
    row.preview_lead = values.preview_lead
    row.autosend = values.autosend
    organisation.name = values.legal_name
    for column, value in address_columns(values.address).items():
        setattr(organisation, column, value)
    organisation.country = values.address.country or organisation.country
    organisation.tax_id = values.tax_id
    organisation.default_language = values.default_language
    organisation.sender_email = values.sender_email
    organisation.reply_to = values.reply_to
    organisation.iban, organisation.bic = values.iban, values.bic
    organisation.account_holder = values.account_holder
    organisation.settings_version = (organisation.settings_version or 0) + 1


async def stored_settings(session: AsyncSession, organisation: Organisation) -> OrganisationSettingsValues | None:
    """The organisation's settings, or None before the first start seeded them."""
    row = await session.get(OrganisationSettingsRow, organisation.id)
    return None if row is None else values_of(organisation, row)


async def organisation_copies(
    session: AsyncSession, *, organisation_id: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The organisation's own Cc and Bcc addresses, which the review modal adds (removable) to a send."""
    row = await session.get(OrganisationSettingsRow, organisation_id)
    return (tuple(row.cc), tuple(row.bcc)) if row is not None else ((), ())


async def sender_from_name(session: AsyncSession, *, organisation: Organisation) -> str:
    """The organisation's From name as the worker sends it (`settings.from_name`): what signs a review's message."""
    row = await session.get(OrganisationSettingsRow, organisation.id)
    return from_name(sender_name=row.sender_name if row is not None else None, legal_name=organisation.name)


async def seed_settings(
    session: AsyncSession, *, organisation: Organisation, values: OrganisationSettingsValues
) -> bool:
    """Copy the environment's values in when the organisation has no settings yet; False when it has.

    Flushes, does not commit (the caller's transaction). Two processes starting at once both
    try; the primary key lets one win, and the loser's commit fails and it reads the winner's.
    """
    if await session.get(OrganisationSettingsRow, organisation.id) is not None:
        return False
    row = OrganisationSettingsRow(organisation_id=organisation.id, updated_by=OPERATOR)
    session.add(row)
    _write(organisation, row, values)
    await session.flush()
    return True


async def adopt_with_settings(
    session: AsyncSession,
    *,
    found: Organisation | None,
    profile: OrganisationProfile,
    seed: OrganisationSettingsValues,
    known_version: int | None,
) -> tuple[Organisation, OrganisationSettingsValues | None]:
    """The single install's organisation (created from `profile` on first use) and, when its
    `settings_version` moved from `known_version`, its stored settings (None: unchanged).

    Owns its transaction: what it created (the organisation, the first seed of its settings)
    is committed here; a seed that fails the settings' own field checks raises FieldErrors and
    writes nothing. Two processes starting at once both try to seed; the primary key lets one
    win, the loser rolls back and reads the winner's row.
    """
    organisation = found if found is not None else await ensure_organisation(session, profile)
    if known_version == organisation.settings_version:
        await _commit_created(session, adopted=found is None)
        return organisation, None
    values = await stored_settings(session, organisation)
    if values is None:
        try:
            checked = check_seed(seed)
        except FieldErrors:
            await session.rollback()  # nothing written, not even a new organisation's row
            raise
        try:
            await seed_settings(session, organisation=organisation, values=checked)
            await session.commit()
        except IntegrityError:
            await session.rollback()
        await session.refresh(organisation)
        values = await stored_settings(session, organisation)
        if values is None:
            raise RuntimeError("the organisation's settings could not be seeded")
    await _commit_created(session, adopted=found is None)
    return organisation, values


async def _commit_created(session: AsyncSession, *, adopted: bool) -> None:
    """Commit what `ensure_organisation` created or adopted (already flushed, so no longer `new`/`dirty`)."""
    if session.in_transaction() and (adopted or session.new or session.dirty):
        await session.commit()


async def settings_to_edit(
    session: AsyncSession, *, organisation_id: int, rules: ApprovalRules, actor: str
) -> SettingsForm:
    """The form an admin edits, filled with what is stored; NotAllowed for anyone else."""
    authorize(rules, actor, Action.CHANGE_SETTINGS)
    organisation = await session.get(Organisation, organisation_id)
    values = None if organisation is None else await stored_settings(session, organisation)
    if organisation is None or values is None:
        raise NotFound("This organisation has no settings yet; restart the bot once to create them.")
    return form_of(values)


async def change_settings(
    unit: UnitOfWork,
    *,
    organisation_id: int,
    rules: ApprovalRules,
    actor: str,
    form: SettingsForm,
    found: Mapping[str, str] | None = None,
) -> dict[str, list[object]]:
    """Check and store the admin's form; returns field → [old, new] (empty: nothing changed).

    NotAllowed for a non-admin and FieldErrors for bad values, before anything is written.
    `found`: problems the caller already found (what only Slack knows: a channel the bot is
    not in), answered together with the form's own. A change bumps the organisation's
    settings version and owes its audit entry.
    """
    authorize(rules, actor, Action.CHANGE_SETTINGS)
    session = unit.session
    organisation = await session.get(Organisation, organisation_id, with_for_update=True)
    row = await session.get(OrganisationSettingsRow, organisation_id, with_for_update=True)
    if organisation is None or row is None:
        raise NotFound("This organisation has no settings yet; restart the bot once to create them.")
    before = values_of(organisation, row)
    try:
        after = check_settings(form, before=before)
    except FieldErrors as wrong:
        raise FieldErrors({**(found or {}), **wrong.errors}) from None
    if found:
        raise FieldErrors(dict(found))
    changes = after.changes_from(before)
    if not changes:
        return {}
    _write(organisation, row, after)
    row.updated_by = actor
    unit.owe_audit(
        AuditEntry(
            organisation_id=organisation_id,
            actor=actor,
            action=SETTINGS_CHANGED,
            subject_type="organisation",
            subject_id=organisation_id,
            detail={"changes": changes, "version": organisation.settings_version},
        )
    )
    return changes
