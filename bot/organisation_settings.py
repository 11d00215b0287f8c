"""What one organisation's installation decides: who may do what, where Slack posts go, who sends.

These are rows in the database (services/invoicing/settings_store.py), one per organisation,
changed by admins in Slack (`/invoices settings`). The environment only seeds them: on the
first start, when the organisation has no settings row, `SettingsDirectory` copies the
environment's values in; afterwards the database wins and nothing reads those variables
again. A workspace installed by OAuth gets its row at install (bot/workspaces.py).

Components never take the global `Settings`: they take an `OrganisationSettings` value or ask
an `OrganisationDirectory` for the one of the workspace a request comes from. The directory
caches each organisation's settings with the `settings_version` it read them at. Every
request loads the organisation row anyway (`organisation(session, team_id)`), so comparing
its version with the cached one costs nothing; a newer version (an admin's change, made in
this process or any other) rebuilds the settings from the database. The worker and the
notifier ask the same way once per claim or post (`settings_of`), so they follow a change
without a restart. The same directory serves one workspace and many (`by_team`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, SettingsError, variable_of
from services.authorization import ApprovalRules
from services.db.models import Organisation
from services.email.dkim import DkimKey, load_dkim_key
from services.errors import FieldErrors, InvalidInput
from services.invoicing.organisations import OrganisationProfile
from services.invoicing.schedule_settings import local_date, weekday_number
from services.invoicing.settings import OrganisationSettingsValues
from services.invoicing.settings_store import adopt_with_settings, stored_settings
from services.postal_address import PostalAddress, parse_postal_address
from services.sending.pipeline import SenderIdentities, SenderIdentity
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
    time_zone: str = "UTC"  # IANA name: the organisation's "today" (`local_today`) and its set hours

    @property
    def message_id_domain(self) -> str:
        return self.identity.from_email.rpartition("@")[2] or "localhost"

    def sending_state(self, organisation: Organisation) -> SendingState:
        return sending_state(organisation, smtp_configured=self.smtp_configured)

    def local_today(self, now: datetime) -> date:
        """The organisation's date at `now`: what is due and overdue is counted against it."""
        return local_date(self.time_zone, now)


class OrganisationDirectory(Protocol):
    """The organisation a request acts for, and its settings (the request's Slack workspace).

    `organisation` refreshes the cached settings when the row's version moved; `settings_for`
    then answers from the cache without I/O; `settings_of` is for loops that know the
    organisation's id (None: the single install's) and never writes.
    """

    def settings_for(self, slack_team_id: str | None = None) -> OrganisationSettings: ...

    async def organisation(self, session: AsyncSession, slack_team_id: str | None = None) -> Organisation: ...

    async def settings_of(self, session: AsyncSession, organisation_id: int | None = None) -> OrganisationSettings: ...

    async def identities(self, session: AsyncSession) -> SenderIdentities: ...

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
            from_name=values.from_name,
            reply_to=values.reply_to,
            bounce_domain=values.bounce_domain or values.sender_email.rpartition("@")[2] or "localhost",
            public_url=process.public_url,
            open_pixel=process.open_pixel,
            dkim=process.dkim,
        ),
        smtp_configured=process.smtp_configured,
        time_zone=values.time_zone,
    )


@dataclass
class SettingsDirectory:
    """Every organisation of the installation, each with its own settings read from the database.

    One class for both installs; `by_team` is their one difference. Without it (one workspace)
    and without a team (the CLI, start-up) it acts for the pinned organisation, else the first;
    with it, a request's team names its organisation.
    `seed`: the environment's values, copied in once when an organisation has no settings row
    (the single install's first start); a workspace installed by OAuth starts from
    `workspace_seed` instead (bot/workspaces.py). Settings are cached per organisation with the
    `settings_version` they were read at, so a change in A is never served to B.
    """

    seed: OrganisationSettingsValues
    process: ProcessParts
    by_team: bool = False  # the one difference: many workspaces (OAuth), one organisation per team
    _organisation_id: int | None = field(default=None, repr=False)
    _ids: dict[str, int] = field(default_factory=dict, repr=False)
    _cached: dict[int, tuple[int, OrganisationSettings]] = field(default_factory=dict, repr=False)

    def settings_for(self, slack_team_id: str | None = None) -> OrganisationSettings:
        """From the cache, no I/O (`organisation` refreshed it); the seed's before the first read."""
        team = self._team(slack_team_id)
        known = self._ids.get(team) if team is not None else self._organisation_id
        cached = self._cached.get(known) if known is not None else None
        if cached is not None:
            return cached[1]
        return settings_from_values(self.seed, self.process)

    def pin(self, organisation_id: int) -> None:
        """Act for this organisation when no team is named (the CLI's `--workspace`, issue 17)."""
        self._organisation_id = organisation_id

    async def organisation(self, session: AsyncSession, slack_team_id: str | None = None) -> Organisation:
        """The organisation's row (created, and its settings seeded, on first use), settings refreshed."""
        team = self._team(slack_team_id)
        found = await (self._find(session) if team is None else self._find_team(session, team))
        return await self._adopt(session, found=found, slack_team_id=team, seed=self.seed)

    async def install(
        self, session: AsyncSession, slack_team_id: str, seed: OrganisationSettingsValues
    ) -> Organisation:
        """A workspace's organisation at install: created with `seed` as its settings when it has none
        (a reinstall keeps what its admins set)."""
        found = await self._find_team(session, slack_team_id)
        return await self._adopt(session, found=found, slack_team_id=slack_team_id, seed=seed)

    def _team(self, slack_team_id: str | None) -> str | None:
        """The team that names the organisation: none for a single-workspace install."""
        return slack_team_id if self.by_team else None

    async def settings_of(self, session: AsyncSession, organisation_id: int | None = None) -> OrganisationSettings:
        """The settings as they are now, for a loop (worker, notifier): reads, never writes."""
        organisation = await (session.get(Organisation, organisation_id) if organisation_id else self._find(session))
        if organisation is None:
            return self.settings_for()
        return await self._current(session, organisation)

    async def _current(self, session: AsyncSession, organisation: Organisation) -> OrganisationSettings:
        """The organisation's settings: from the cache while its version is the one read, else its row."""
        cached = self._cached.get(organisation.id)
        if cached is None or cached[0] != organisation.settings_version:
            values = await stored_settings(session, organisation)
            if values is None:
                return self.settings_for(organisation.slack_team_id)
            return self._remember(organisation, values)
        return cached[1]

    async def identities(self, session: AsyncSession) -> SenderIdentities:
        """Every organisation's sender identity now (the worker asks at most once a second), so each
        workspace's email leaves with its own From, Reply-To and bounce domain. One query for the
        organisations; a settings row is read only when its version moved."""
        if not self.by_team:
            return SenderIdentities((await self.settings_of(session)).identity)
        found = (await session.execute(select(Organisation).order_by(Organisation.id))).scalars().all()
        by_organisation = {
            organisation.id: (await self._current(session, organisation)).identity for organisation in found
        }
        return SenderIdentities(self.settings_for().identity, by_organisation)

    async def channels(self, session: AsyncSession, organisation_id: int) -> SlackChannels:
        """Where the organisation's posts go now (the notifier asks once per post)."""
        return (await self.settings_of(session, organisation_id)).channels

    async def _adopt(
        self,
        session: AsyncSession,
        *,
        found: Organisation | None,
        slack_team_id: str | None,
        seed: OrganisationSettingsValues,
    ) -> Organisation:
        cached = self._cached.get(found.id) if found is not None else None
        profile = replace(settings_from_values(seed, self.process).profile, slack_team_id=slack_team_id)
        try:
            organisation, values = await adopt_with_settings(
                session, found=found, profile=profile, seed=seed, known_version=cached[0] if cached else None
            )
        except FieldErrors as wrong:
            raise SettingsError(seed_refused(wrong)) from None
        if values is not None:
            self._remember(organisation, values)
        if slack_team_id is None:
            self._organisation_id = organisation.id
        else:
            self._ids[slack_team_id] = organisation.id
        return organisation

    def _remember(self, organisation: Organisation, values: OrganisationSettingsValues) -> OrganisationSettings:
        settings = settings_from_values(values, self.process)
        self._cached[organisation.id] = (organisation.settings_version, settings)
        return settings

    async def _find(self, session: AsyncSession) -> Organisation | None:
        if self._organisation_id is not None:
            found = await session.get(Organisation, self._organisation_id)
            if found is not None:
                return found
        query = select(Organisation).order_by(Organisation.id).limit(1)
        return (await session.execute(query)).scalar_one_or_none()

    async def _find_team(self, session: AsyncSession, slack_team_id: str) -> Organisation | None:
        known = self._ids.get(slack_team_id)
        found = await session.get(Organisation, known) if known is not None else None
        if found is None:
            query = select(Organisation).where(Organisation.slack_team_id == slack_team_id)
            found = (await session.execute(query)).scalar_one_or_none()
        return found


# The settings' fields (services.invoicing.settings) whose variable is not INVOICEBOT_<FIELD>.
_SEED_FIELDS = {
    "legal_name": "org_name",
    "tax_id": "org_tax_id",
    "country": "org_country",
    "time_zone": "timezone",
    **{part: f"org_{part}" for part in ("street", "additional", "city", "postal_code", "subdivision")},
}


def seed_refused(wrong: FieldErrors) -> str:
    """The sentence a first start stops with when an environment value fails the settings' checks."""
    problems = "; ".join(
        f"{variable_of(_SEED_FIELDS.get(name, name))}: {message}" for name, message in sorted(wrong.errors.items())
    )
    return f"the organisation's settings were not stored (nothing was written): {problems}"


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
        silent_after_provider_hours=settings.silent_after_provider_hours,
        silent_after_smtp_hours=settings.silent_after_smtp_hours,
        time_zone=settings.timezone,
        digest_hour=settings.digest_hour,
        weekly_summary_day=_weekday_seed(settings.weekly_summary_day),
        send_window=settings.send_window,
        holiday_country=settings.holiday_country,
        preview_lead=settings.preview_lead_minutes,
    )


def _weekday_seed(text: str) -> int:
    """INVOICEBOT_WEEKLY_SUMMARY_DAY as a day number; a wrong name stops the start with the variable's name."""
    try:
        return weekday_number(text)
    except InvalidInput as wrong:
        raise SettingsError(f"{variable_of('weekly_summary_day')}: {wrong}") from None


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


def settings_directory(settings: Settings) -> SettingsDirectory:
    """The installation's directory, seeded by the environment (read here, at start, only)."""
    return SettingsDirectory(
        seed=seed_values(settings), process=process_parts(settings), by_team=settings.multi_workspace
    )
