"""What one organisation's installation decides: who may do what, where Slack posts go, who sends.

These are rows in the database (services/invoicing/settings_store.py), changed by admins in
Slack (`/invoices settings`). The environment only seeds them: on the first start, when the
organisation has no settings row, `InstalledOrganisation` copies the environment's values in;
afterwards the database wins and nothing reads those variables again.

Components never take the global `Settings`: they take an `OrganisationSettings` value or ask
an `OrganisationDirectory` for the one of the workspace a request comes from. The directory
caches each organisation's settings with the `settings_version` it read them at. Every
request loads the organisation row anyway (`organisation(session, team_id)`), so comparing
its version with the cached one costs nothing; a newer version (an admin's change, made in
this process or any other) rebuilds the settings from the database. The worker and the
notifier ask the same way once per claim or post (`settings_of`), so they follow a change
without a restart. A per-workspace directory (OAuth installs) implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from services.authorization import ApprovalRules
from services.db.models import Organisation
from services.email.dkim import DkimKey, load_dkim_key
from services.invoicing.organisations import OrganisationProfile, adopt_organisation
from services.invoicing.settings import OrganisationSettingsValues
from services.invoicing.settings_store import adopt_with_settings, stored_settings
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
    """The organisation a request acts for, and its settings (per Slack workspace, later).

    `organisation` refreshes the cached settings when the row's version moved; `settings_for`
    then answers from the cache without I/O; `settings_of` is for loops that know the
    organisation's id (None: the single install's) and never writes.
    """

    def settings_for(self, slack_team_id: str | None = None) -> OrganisationSettings: ...

    async def organisation(self, session: AsyncSession, slack_team_id: str | None = None) -> Organisation: ...

    async def settings_of(self, session: AsyncSession, organisation_id: int | None = None) -> OrganisationSettings: ...

    async def identity(self, session: AsyncSession) -> SenderIdentity: ...

    async def channels(self, session: AsyncSession, organisation_id: int) -> SlackChannels: ...

    def pin(self, organisation_id: int) -> None: ...


@dataclass(frozen=True)
class ProcessParts:
    """What stays per process, not per organisation: the public URL, the pixel, whether SMTP is set up."""

    public_url: str
    open_pixel: bool
    smtp_configured: bool
    dkim: DkimKey | None = None  # the DKIM signing key, read once from its file at start


def settings_from_values(values: OrganisationSettingsValues, process: ProcessParts) -> OrganisationSettings:
    """The plain settings components use, from the stored values."""
    return OrganisationSettings(
        profile=OrganisationProfile(
            name=values.legal_name,
            address=values.address,
            tax_id=values.tax_id,
            default_language=values.default_language,
            sender_email=values.sender_email,
            reply_to=values.reply_to,
        ),
        rules=values.rules(),
        channels=SlackChannels(notify=values.notify_channel, approvers=values.approvers_channel),
        identity=SenderIdentity(
            from_email=values.sender_email,
            from_name=values.sender_name or values.legal_name,
            reply_to=values.reply_to,
            bounce_domain=values.bounce_domain or values.sender_email.rpartition("@")[2] or "localhost",
            public_url=process.public_url,
            open_pixel=process.open_pixel,
            dkim=process.dkim,
        ),
        smtp_configured=process.smtp_configured,
    )


@dataclass
class InstalledOrganisation:
    """The one organisation of a single-workspace install, its settings read from the database.

    `seed`: the environment's values, copied in once when the organisation has no settings row
    (and used, unwritten, by `settings_for` before the first request read the database).
    """

    seed: OrganisationSettingsValues
    process: ProcessParts
    _organisation_id: int | None = field(default=None, repr=False)
    _cached: tuple[int, OrganisationSettings] | None = field(default=None, repr=False)

    def settings_for(self, slack_team_id: str | None = None) -> OrganisationSettings:
        if self._cached is None:
            return settings_from_values(self.seed, self.process)
        return self._cached[1]

    def pin(self, organisation_id: int) -> None:
        """Act for this organisation from now on (the CLI's `--workspace`, issue 17)."""
        self._organisation_id = organisation_id

    async def organisation(self, session: AsyncSession, slack_team_id: str | None = None) -> Organisation:
        """The organisation's row (created, and its settings seeded, on first use), settings refreshed."""
        known = self._cached[0] if self._cached is not None else None
        organisation, values = await adopt_with_settings(
            session, found=await self._find(session), profile=self._profile(), seed=self.seed, known_version=known
        )
        if values is not None:
            self._remember(organisation, values)
        self._organisation_id = organisation.id
        return organisation

    async def settings_of(self, session: AsyncSession, organisation_id: int | None = None) -> OrganisationSettings:
        """The settings as they are now, for a loop (worker, notifier): reads, never writes."""
        organisation = await (session.get(Organisation, organisation_id) if organisation_id else self._find(session))
        if organisation is None:
            return self.settings_for()
        if self._cached is None or self._cached[0] != organisation.settings_version:
            values = await stored_settings(session, organisation)
            if values is None:
                return self.settings_for()
            self._remember(organisation, values)
        return self.settings_for()

    async def identity(self, session: AsyncSession) -> SenderIdentity:
        """The sender identity now (the worker asks once per claim)."""
        return (await self.settings_of(session)).identity

    async def channels(self, session: AsyncSession, organisation_id: int) -> SlackChannels:
        """Where the organisation's posts go now (the notifier asks once per post)."""
        return (await self.settings_of(session, organisation_id)).channels

    def _remember(self, organisation: Organisation, values: OrganisationSettingsValues) -> None:
        self._cached = (organisation.settings_version, settings_from_values(values, self.process))

    def _profile(self) -> OrganisationProfile:
        return settings_from_values(self.seed, self.process).profile

    async def _find(self, session: AsyncSession) -> Organisation | None:
        if self._organisation_id is not None:
            found = await session.get(Organisation, self._organisation_id)
            if found is not None:
                return found
        query = select(Organisation).order_by(Organisation.id).limit(1)
        return (await session.execute(query)).scalar_one_or_none()


@dataclass
class SingleOrganisation:
    """An organisation whose settings are the environment's, never stored: the base of the
    multi-workspace directory (bot/workspaces.py), whose teams have no settings rows yet
    (issue 17's next step gives each installed workspace stored settings like `InstalledOrganisation`)."""

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

    async def settings_of(self, session: AsyncSession, organisation_id: int | None = None) -> OrganisationSettings:
        return self.settings

    async def identity(self, session: AsyncSession) -> SenderIdentity:
        return self.settings.identity

    async def channels(self, session: AsyncSession, organisation_id: int) -> SlackChannels:
        return self.settings.channels


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


def seed_values(settings: Settings) -> OrganisationSettingsValues:
    """The environment's organisation settings: what a single-workspace install starts with."""
    return OrganisationSettingsValues(
        senders=tuple(settings.senders),
        approvers=tuple(settings.approvers),
        admins=tuple(settings.admins),
        approval_policy=settings.approval_policy,
        approval_threshold=settings.approval_threshold,
        notify_channel=settings.notify_channel,
        approvers_channel=settings.approvers_channel,
        sender_name=settings.sender_name,
        sender_email=settings.sender_email,
        reply_to=settings.reply_to,
        bounce_domain=settings.bounce_domain,
        legal_name=settings.org_name,
        address=organisation_address(settings),
        tax_id=settings.org_tax_id,
        default_language=settings.default_language,
        default_currency=settings.default_currency,
        iban=settings.org_iban,
        bic=settings.org_bic,
        account_holder=settings.org_account_holder,
    )


def process_parts(settings: Settings) -> ProcessParts:
    return ProcessParts(
        public_url=settings.public_url.rstrip("/"),
        open_pixel=settings.open_pixel,
        smtp_configured=settings.smtp_configured,
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
    """The organisation as the environment describes it (the seed; what `doctor` checks)."""
    return settings_from_values(seed_values(settings), process_parts(settings))


def installed_organisation(settings: Settings) -> InstalledOrganisation:
    """The single install's directory, seeded by the environment (read here, at start, only)."""
    return InstalledOrganisation(seed=seed_values(settings), process=process_parts(settings))
