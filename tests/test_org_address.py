"""The organisation's address from settings: the parts when any is set, else INVOICEBOT_ORG_ADDRESS read into parts."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.organisation_settings import organisation_profile
from services.db.models import Organisation
from services.invoicing.organisations import ensure_organisation


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"INVOICEBOT_{name}", value)
    return Settings(_env_file=None)


async def _stored(session: AsyncSession, settings: Settings) -> tuple[str | None, ...]:
    await ensure_organisation(session, organisation_profile(settings))
    await session.commit()
    row = (await session.execute(select(Organisation))).scalar_one()
    return (row.street, row.additional, row.city, row.postal_code, row.subdivision, row.country)


async def test_the_old_one_text_setting_is_read_into_parts(session: AsyncSession, monkeypatch) -> None:
    settings = _settings(monkeypatch, ORG_ADDRESS="5 place Bellecour\n69002 Lyon\nFrance", ORG_COUNTRY="fr")

    assert await _stored(session, settings) == ("5 place Bellecour", "", "Lyon", "69002", "", "FR")


async def test_the_default_address_is_a_london_one_in_parts(session: AsyncSession) -> None:
    assert await _stored(session, Settings(_env_file=None)) == ("1 Example Street", "", "London", "EC1A 1AA", "", "GB")


async def test_address_parts_in_settings_win_over_the_one_text_setting(session: AsyncSession, monkeypatch) -> None:
    settings = _settings(
        monkeypatch,
        ORG_ADDRESS="1 Example Street\nLondon EC1A 1AA",
        ORG_STREET="Via Torino 42",
        ORG_CITY="Milano",
        ORG_POSTAL_CODE="20123",
        ORG_SUBDIVISION="MI",
        ORG_COUNTRY="IT",
    )

    assert await _stored(session, settings) == ("Via Torino 42", "", "Milano", "20123", "MI", "IT")
