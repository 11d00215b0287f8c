"""The organisation row: created or refreshed from the operator's settings at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Organisation
from services.errors import DomainError
from services.formatting import reader_locale
from services.postal_address import PostalAddress, address_columns


@dataclass(frozen=True)
class OrganisationProfile:
    name: str
    address: PostalAddress  # its country is the organisation's country
    tax_id: str
    default_language: str
    sender_email: str
    reply_to: str | None = None
    slack_team_id: str | None = None


async def ensure_organisation(session: AsyncSession, profile: OrganisationProfile) -> Organisation:
    """The organisation of this installation (or of `profile`'s workspace), created from `profile` on first use.

    Matched by Slack team id when one is known (else a single install's organisation, which
    has none yet, is taken over), else it is the first row. An organisation found is left as
    its settings made it.
    """
    query = select(Organisation).order_by(Organisation.id).limit(1)
    if profile.slack_team_id:
        query = select(Organisation).where(Organisation.slack_team_id == profile.slack_team_id)
    organisation = (await session.execute(query)).scalar_one_or_none()
    if organisation is None and profile.slack_team_id:
        organisation = (
            await session.execute(
                select(Organisation).where(Organisation.slack_team_id.is_(None)).order_by(Organisation.id).limit(1)
            )
        ).scalar_one_or_none()
    if organisation is not None:
        # Found: its details are its settings' (services/invoicing/settings_store.py), never reset
        # from a profile; a single install's organisation taken over by its workspace only learns its team.
        if profile.slack_team_id:
            organisation.slack_team_id = profile.slack_team_id
        await session.flush()
        return organisation
    organisation = Organisation(name=profile.name)
    session.add(organisation)
    organisation.name = profile.name
    for column, value in address_columns(profile.address).items():
        setattr(organisation, column, value)
    organisation.country = profile.address.country or organisation.country
    organisation.tax_id = profile.tax_id
    organisation.default_language = profile.default_language
    organisation.sender_email = profile.sender_email
    organisation.reply_to = profile.reply_to
    if profile.slack_team_id:
        organisation.slack_team_id = profile.slack_team_id
    await session.flush()
    return organisation


async def adopt_organisation(session: AsyncSession, profile: OrganisationProfile) -> Organisation:
    """`ensure_organisation`, committed: the installation's organisation directory (bot/) adopts
    the row once, before any use case acts for it, so the row exists whatever that use case does."""
    organisation = await ensure_organisation(session, profile)
    await session.commit()
    return organisation


def organisation_locale(organisation: Organisation) -> str:
    """The team's locale (its default language in its country): how Slack and the CLI write amounts and dates."""
    return reader_locale(organisation.default_language, organisation.country)


async def team_locale(session: AsyncSession, *, organisation_id: int) -> str:
    """`organisation_locale` for a service that holds only the organisation's id (English if it is gone)."""
    organisation = await session.get(Organisation, organisation_id)
    return organisation_locale(organisation) if organisation is not None else reader_locale(None, None)


async def choose_organisation(session: AsyncSession, slack_team_id: str | None) -> Organisation | None:
    """The organisation a command acts for when one installation serves many workspaces.

    Named (`--workspace T123`): that workspace's organisation, or a DomainError naming the
    known ones. Not named: None while there is at most one organisation (as before), a
    DomainError when there are several, since acting for the wrong one cannot be undone.
    """
    organisations = list((await session.execute(select(Organisation).order_by(Organisation.id))).scalars())
    known = ", ".join(f"{o.slack_team_id or '(no workspace)'} ({o.name})" for o in organisations)
    if slack_team_id:
        for organisation in organisations:
            if organisation.slack_team_id == slack_team_id:
                return organisation
        raise DomainError(f"No organisation belongs to workspace {slack_team_id}. Known: {known or 'none'}.")
    if len(organisations) > 1:
        raise DomainError(
            f"This installation serves {len(organisations)} organisations: {known}. "
            "Name one with --workspace (e.g. --workspace "
            f"{next((o.slack_team_id for o in organisations if o.slack_team_id), 'T123')}); nothing was changed."
        )
    return None
