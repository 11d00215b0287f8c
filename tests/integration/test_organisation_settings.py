"""The organisation's settings in the database: seeded once from the environment, then the database wins,
and a change reaches a running worker without a restart (real SMTP server, parsed email)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import func, select

from bot.config import SettingsError, load_settings
from bot.organisation_settings import settings_directory
from services.db.models import AuditLog, Organisation, OrganisationSettingsRow
from services.invoicing.settings_store import settings_to_edit
from services.unit_of_work import units_over
from services.use_cases import SettingsChange, change_organisation_settings
from tests.harness.sending import make_worker, queue_delivery


def env(database_url: str, **extra: str):
    return load_settings(DATABASE_URL=database_url, INVOICEBOT_ADMINS="U0ALICE", **extra)


async def test_the_environment_seeds_the_first_start_and_the_database_wins_afterwards(database_url, sessions):
    first = settings_directory(env(database_url, INVOICEBOT_ORG_NAME="First Ltd", INVOICEBOT_APPROVERS="U0BOB"))
    async with sessions() as session:
        organisation = await first.organisation(session)
        assert (organisation.name, organisation.settings_version) == ("First Ltd", 1)

    # A restart with other values in the environment: the stored settings stay as they are.
    later = settings_directory(env(database_url, INVOICEBOT_ORG_NAME="Other Ltd", INVOICEBOT_APPROVERS="U0DAVE"))
    async with sessions() as session:
        organisation = await later.organisation(session)
        rows = await session.scalar(select(func.count()).select_from(OrganisationSettingsRow))
    assert (organisation.name, organisation.settings_version, rows) == ("First Ltd", 1, 1)
    assert later.settings_for().rules.approvers == frozenset({"U0BOB"})
    assert later.settings_for().profile.name == "First Ltd"


async def test_a_bad_environment_value_stops_the_first_start_naming_the_variable_and_writes_nothing(
    database_url, sessions
):
    directory = settings_directory(
        env(
            database_url,
            INVOICEBOT_SENDER_EMAIL="not an address",
            INVOICEBOT_ORG_TAX_ID="GB123",
            INVOICEBOT_NOTIFY_CHANNEL="#general",
        )
    )

    async with sessions() as session:
        with pytest.raises(SettingsError) as refused:
            await directory.organisation(session)

    sentence = str(refused.value)
    assert sentence.startswith("the organisation's settings were not stored (nothing was written): ")
    assert "INVOICEBOT_SENDER_EMAIL: " in sentence
    assert "INVOICEBOT_ORG_TAX_ID: the VAT number 'GB123' is not a valid GB VAT number" in sentence
    assert "INVOICEBOT_NOTIFY_CHANNEL: '#general' is not a Slack channel id (C… or G…)" in sentence
    async with sessions() as session:
        for table in (Organisation, OrganisationSettingsRow):
            assert await session.scalar(select(func.count()).select_from(table)) == 0


async def test_a_running_worker_sends_with_the_from_name_an_admin_just_changed(
    database_url, sessions, session, org, smtp, transport
):
    settings = env(database_url, INVOICEBOT_SENDER_NAME="Accounts", INVOICEBOT_SENDER_EMAIL="invoices@example.com")
    directory = settings_directory(settings)
    await directory.organisation(session)
    worker = make_worker(sessions, transport, identity=directory.identities)
    await queue_delivery(session, org)
    assert await worker.drain() == 1

    async with sessions() as reading:
        form = await settings_to_edit(
            reading, organisation_id=org.id, rules=directory.settings_for().rules, actor="U0ALICE"
        )
    changes = await change_organisation_settings(
        units_over(sessions),
        organisation_id=org.id,
        actor="U0ALICE",
        change=SettingsChange(
            form=replace(form, sender_name="Books Team"), rules=directory.settings_for().rules, found={}
        ),
    )
    assert changes == {"sender_name": ["Accounts", "Books Team"]}
    await asyncio.sleep(1.1)  # the worker re-reads the identity at most once a second
    await queue_delivery(session, org, number="INV-0002")
    assert await worker.drain() == 1

    first, second = (BytesParser(policy=policy.default).parsebytes(item.data) for item in smtp.received)
    assert first["From"].addresses[0].display_name == "Accounts"
    assert second["From"].addresses[0].display_name == "Books Team"
    [audit] = (await session.execute(select(AuditLog).where(AuditLog.action == "settings_changed"))).scalars().all()
    assert audit.detail["changes"] == {"sender_name": ["Accounts", "Books Team"]}
    version = await session.scalar(select(Organisation.settings_version).where(Organisation.id == org.id))
    assert version == 2


async def test_the_environment_seeds_the_bank_details_checked_and_compact(database_url, sessions):
    """INVOICEBOT_ORG_IBAN / _BIC / _ACCOUNT_HOLDER seed the first start like the other settings; a
    mistyped IBAN stops the start with a sentence naming the variable instead of printing on invoices."""
    seeded = settings_directory(
        env(
            database_url,
            INVOICEBOT_ORG_IBAN="be71 0961 2345 6769",
            INVOICEBOT_ORG_BIC="gkccbebb",
            INVOICEBOT_ORG_ACCOUNT_HOLDER="Example Treasury BV",
        )
    )
    async with sessions() as session:
        organisation = await seeded.organisation(session)
        assert (organisation.iban, organisation.bic, organisation.account_holder) == (
            "BE71096123456769",
            "GKCCBEBB",
            "Example Treasury BV",
        )
    with pytest.raises(
        SettingsError, match=r"INVOICEBOT_ORG_IBAN is invalid: .*'BE71 0961 2345 6760' is not a valid IBAN"
    ):
        env(database_url, INVOICEBOT_ORG_IBAN="BE71 0961 2345 6760")
