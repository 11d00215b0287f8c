"""App Home republishing outside a request: each view built from the organisation as it is *now*.

A refresh runs in whichever process's refresher saw the change (a web process or a worker),
often long after the request that opened App Home: its day may have ended, an admin may have
changed the approvers. So each publish reads the organisation's row and current settings
(`OrganisationDirectory.settings_of`, which follows a settings change from any process), today's
date, and the bot token of the organisation's workspace (`WorkspaceTokens.destination`, the same
one the notifier posts with; the single install's token otherwise). handlers/home_refresh.py
decides who is owed a publish and when; services/home_viewers.py knows who has App Home.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.organisation_settings import OrganisationDirectory
from bot.workspace_tokens import WorkspaceNotInstalled, WorkspaceTokens
from handlers.context import Workplace
from handlers.home import HomeSubject, publish_home
from handlers.home_refresh import HomeViewers
from services.clock import utcnow
from services.db.models import Organisation
from services.home_changes import take_home_changes, viewed_organisation_zones
from services.home_viewers import VIEWER_WINDOW, home_viewers_of
from services.invoicing.organisations import organisation_locale
from services.invoicing.schedule_settings import local_date


@dataclass(frozen=True, kw_only=True)
class HomeRefresh:
    """What a republish reads at publish time. `client`: the single install's (bot token set);
    `destinations` (multi-workspace): each organisation's workspace token. `now` is read at each
    call (tests move it); `today` pins the date a Home counts "overdue" against (tests), else it is
    each organisation's local date at `now` (`OrganisationSettings.local_today`)."""

    sessions: async_sessionmaker[AsyncSession]
    organisations: OrganisationDirectory
    client: AsyncWebClient
    destinations: WorkspaceTokens | None = None
    today: Callable[[], date] | None = None
    now: Callable[[], datetime] = utcnow
    _days: dict[int, date] = field(default_factory=dict, init=False, repr=False)  # each org's date last seen

    async def subject(self, organisation_id: int, user_id: str) -> HomeSubject:
        """The person's App Home as their organisation is now."""
        async with self.sessions() as session:
            organisation = await session.get(Organisation, organisation_id)
            if organisation is None:
                raise WorkspaceNotInstalled(f"organisation {organisation_id} no longer exists")
            settings = await self.organisations.settings_of(session, organisation_id)
            workplace = Workplace(
                organisation_id=organisation_id,
                sending=settings.sending_state(organisation),
                today=self.today() if self.today is not None else settings.local_today(self.now()),
                locale=organisation_locale(organisation),
            )
        client = self.client
        if self.destinations is not None:
            token = (await self.destinations.destination(organisation_id)).token
            client = AsyncWebClient(token=token, base_url=self.client.base_url, timeout=15)
        return HomeSubject(
            user_id=user_id, workplace=workplace, rules=settings.rules, sessions=self.sessions, client=client
        )

    async def publish(self, organisation_id: int, user_id: str) -> None:
        await publish_home(await self.subject(organisation_id, user_id))

    async def viewers(self, organisation_id: int) -> Sequence[str]:
        return await home_viewers_of(self.sessions, organisation_id=organisation_id, now=self.now())

    async def changed_organisations(self) -> set[int]:
        """Organisations whose Homes are stale: a state change committed by any process since the
        last call, or the organisation's local date rolled over (ages and "due today" moved)."""
        changed = await take_home_changes(self.sessions)
        now = self.now()
        zones = await viewed_organisation_zones(self.sessions, now=now, window=VIEWER_WINDOW)
        for organisation_id, zone in zones.items():
            day = local_date(zone, now)
            if self._days.setdefault(organisation_id, day) != day:
                changed.add(organisation_id)
            self._days[organisation_id] = day
        return changed


def home_refresher(refresh: HomeRefresh) -> HomeViewers:
    """A process's App Home refresher: viewers from the database, each view built fresh, changes
    polled from the database (any process's) and each organisation's midnight."""
    return HomeViewers(refresh.publish, refresh.viewers, changes=refresh.changed_organisations)
