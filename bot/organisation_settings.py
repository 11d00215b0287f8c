"""What one organisation's installation decides: who may do what, where Slack posts go, who sends.

Today these come from the environment (one installation, one workspace), read once by
`organisation_settings(settings)` in the composition root (bot/bootstrap.py). The next step is a
multi-workspace install whose settings are rows per Slack workspace: components therefore never
take the global `Settings`, they take an `OrganisationSettings` value or ask an
`OrganisationDirectory` for the one of the workspace a request comes from. Swapping
`SingleOrganisation` for a database-backed directory is then the whole change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from services.authorization import ApprovalRules
from services.db.models import Organisation
from services.email.dkim import DkimKey, load_dkim_key
from services.invoicing.organisations import OrganisationProfile, adopt_organisation
from services.postal_address import PostalAddress, parse_postal_address
from services.sending.pipeline import SenderIdentity
from services.sending.readiness import SendingState, sending_state


@dataclass(frozen=True)
class SlackChannels:
    """Where the notifier posts: status messages and alerts, and approval requests."""

    notify: str | None
    approvers: str | None  # None: the notify channel

    @property
    def approvals(self) -> str | None:
        return self.approvers or self.notify


@dataclass(frozen=True)
class OrganisationSettings:
    """Roles and policy, channels, sender identity and profile of one organisation (plain values)."""

    profile: OrganisationProfile
    rules: ApprovalRules
    channels: SlackChannels
    identity: SenderIdentity
    smtp_configured: bool

    @property
    def message_id_domain(self) -> str:
        return self.identity.from_email.rpartition("@")[2] or "localhost"

    def sending_state(self, organisation: Organisation) -> SendingState:
        return sending_state(organisation, smtp_configured=self.smtp_configured)


class OrganisationDirectory(Protocol):
    """The organisation a request acts for, and its settings (per Slack workspace, later)."""

    def settings_for(self, slack_team_id: str | None = None) -> OrganisationSettings: ...

    async def organisation(self, session: AsyncSession, slack_team_id: str | None = None) -> Organisation: ...


@dataclass
class SingleOrganisation:
    """The one organisation of this installation, its row created from its settings on first use."""

    settings: OrganisationSettings
    _organisation_id: int | None = field(default=None, repr=False)

    def settings_for(self, slack_team_id: str | None = None) -> OrganisationSettings:
        return self.settings

    def pin(self, organisation_id: int) -> None:
        """Act for this organisation from now on (the CLI's `--workspace`, issue 17)."""
        self._organisation_id = organisation_id

    async def organisation(self, session: AsyncSession, slack_team_id: str | None = None) -> Organisation:
        if self._organisation_id is not None:
            found = await session.get(Organisation, self._organisation_id)
            if found is not None:
                return found
        organisation = await adopt_organisation(session, self.settings.profile)
        self._organisation_id = organisation.id
        return organisation


def organisation_address(settings: Settings) -> PostalAddress:
    """ORG_STREET, _CITY, … when any is set; else ORG_ADDRESS read into parts. ORG_COUNTRY is the country."""
    country = settings.org_country.upper()
    parts = (settings.org_street, settings.org_additional, settings.org_city, settings.org_postal_code)
    if any((*parts, settings.org_subdivision)):
        return PostalAddress(
            street=settings.org_street or "",
            additional=settings.org_additional or "",
            city=settings.org_city or "",
            postal_code=settings.org_postal_code or "",
            subdivision=settings.org_subdivision or "",
            country=country,
        )
    return parse_postal_address(settings.org_address, country=country)


def organisation_profile(settings: Settings, slack_team_id: str | None = None) -> OrganisationProfile:
    return OrganisationProfile(
        name=settings.org_name,
        address=organisation_address(settings),
        tax_id=settings.org_tax_id,
        default_language=settings.default_language,
        sender_email=settings.sender_email,
        reply_to=settings.reply_to,
        slack_team_id=slack_team_id,
    )


def sender_identity(settings: Settings) -> SenderIdentity:
    return SenderIdentity(
        from_email=settings.sender_email,
        from_name=settings.sender_name or settings.org_name,
        reply_to=settings.reply_to,
        bounce_domain=settings.effective_bounce_domain,
        public_url=settings.public_url.rstrip("/"),
        open_pixel=settings.open_pixel,
        dkim=dkim_key(settings),
    )


def dkim_key(settings: Settings) -> DkimKey | None:
    """The signing key when INVOICEBOT_DKIM_PRIVATE_KEY_FILE is set (checked when settings were read)."""
    if not settings.dkim_private_key_file or not settings.dkim_selector:
        return None
    return load_dkim_key(
        settings.dkim_private_key_file, selector=settings.dkim_selector, domain=settings.dkim_signing_domain
    )


def organisation_settings(settings: Settings) -> OrganisationSettings:
    """The installation's organisation as the environment describes it."""
    return OrganisationSettings(
        profile=organisation_profile(settings),
        rules=ApprovalRules(
            senders=frozenset(settings.senders),
            approvers=frozenset(settings.approvers),
            admins=frozenset(settings.admins),
            policy=settings.approval_policy.value,
            threshold=settings.approval_threshold,
        ),
        channels=SlackChannels(notify=settings.notify_channel, approvers=settings.approvers_channel),
        identity=sender_identity(settings),
        smtp_configured=settings.smtp_configured,
    )
