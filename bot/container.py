"""The composition root: builds everything the process needs from `Settings`, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from services.db.engine import create_engine, session_factory
from services.db.models import Organisation
from services.due import SendingState
from services.organisations import OrganisationProfile, ensure_organisation, sending_state


def organisation_profile(settings: Settings, slack_team_id: str | None = None) -> OrganisationProfile:
    return OrganisationProfile(
        name=settings.org_name,
        address=settings.org_address,
        tax_id=settings.org_tax_id,
        country=settings.org_country.upper(),
        default_language=settings.default_language,
        sender_email=settings.sender_email,
        reply_to=settings.reply_to,
        slack_team_id=slack_team_id,
    )


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _organisation_id: int | None = field(default=None)

    @classmethod
    def build(cls, settings: Settings) -> Container:
        engine = create_engine(settings.database_url)
        return cls(settings=settings, engine=engine, sessions=session_factory(engine))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def organisation(self, session: AsyncSession) -> Organisation:
        """This installation's organisation, created from settings on first use."""
        if self._organisation_id is not None:
            found = await session.get(Organisation, self._organisation_id)
            if found is not None:
                return found
        organisation = await ensure_organisation(session, organisation_profile(self.settings))
        await session.commit()
        self._organisation_id = organisation.id
        return organisation

    def sending_state(self, organisation: Organisation) -> SendingState:
        return sending_state(organisation, smtp_configured=self.settings.smtp_configured)

    async def close(self) -> None:
        await self.engine.dispose()
