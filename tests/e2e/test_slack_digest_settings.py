"""The digest's settings in the admins' modal (`/invoices settings`): seeded from the environment,
a wrong time zone answered on its field, a change stored and audited; the real app over signed requests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import AuditLog, OrganisationSettingsRow
from tests.harness.reading import input_blocks, state_values
from tests.harness.slack import ALICE, settings_with

settings = settings_with(
    INVOICEBOT_ADMINS="U0ALICE",
    INVOICEBOT_NOTIFY_CHANNEL="C0NOTIFY",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
    INVOICEBOT_TIMEZONE="Europe/Brussels",
)


async def settings_modal(slack: SlackRequestClient, fake_slack: FakeSlackApi) -> dict[str, Any]:
    fake_slack.add_channel("C0NOTIFY", "invoices")
    response = await slack.command("settings", user=ALICE, response_url=fake_slack.response_url())
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) == 1)
    return dict(next(iter(fake_slack.views.values())))


async def save(slack: SlackRequestClient, view: dict[str, Any], **typed: Any) -> dict[str, Any]:
    response = await slack.submit(view, state_values(view, **typed), user=ALICE)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_digest_settings_are_shown_checked_and_saved(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    view = await settings_modal(slack, fake_slack)
    shown = input_blocks(view)
    assert shown["set_time_zone"]["element"]["initial_value"] == "Europe/Brussels"  # seeded by INVOICEBOT_TIMEZONE
    assert shown["set_digest_hour"]["element"]["initial_option"]["value"] == "off"  # off by default
    assert shown["set_weekly_summary_day"]["element"]["initial_option"]["value"] == "monday"

    refused = await save(slack, view, set_time_zone="Europe/Atlantis", set_digest_hour="8")
    assert refused == {
        "response_action": "errors",
        "errors": {"set_time_zone": "'Europe/Atlantis' is not a time zone name (IANA, like Europe/Brussels or UTC)"},
    }
    row = (await session.execute(select(OrganisationSettingsRow))).scalar_one()
    assert row.digest_hour is None  # nothing saved

    saved = await save(
        slack, view, set_time_zone="America/New_York", set_digest_hour="8", set_weekly_summary_day="friday"
    )
    assert saved["response_action"] == "update"
    session.expire_all()
    row = (await session.execute(select(OrganisationSettingsRow))).scalar_one()
    assert (row.time_zone, row.digest_hour, row.weekly_summary_day) == ("America/New_York", 8, 4)
    [audit] = (await session.execute(select(AuditLog))).scalars().all()
    assert audit.detail["changes"]["digest_hour"] == [None, 8]
    assert audit.detail["changes"]["time_zone"] == ["Europe/Brussels", "America/New_York"]


async def test_the_send_window_is_shown_checked_and_saved(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    view = await settings_modal(slack, fake_slack)
    shown = input_blocks(view)
    assert shown["set_send_window"]["element"]["initial_value"] == "Mon-Fri 09:00-17:00"  # the default
    assert shown["set_holiday_country"]["element"].get("initial_value", "") == ""

    refused = await save(slack, view, set_send_window="weekdays 9-5", set_holiday_country="XX")
    assert refused == {
        "response_action": "errors",
        "errors": {
            "set_send_window": "'weekdays 9-5' is not a send window: write days and hours, like Mon-Fri 09:00-17:00",
            "set_holiday_country": "'XX' is not a country whose holidays are known (ISO 3166 code, like BE or GB)",
        },
    }
    row = (await session.execute(select(OrganisationSettingsRow))).scalar_one()
    assert (row.send_window, row.holiday_country) == ("Mon-Fri 09:00-17:00", "")  # nothing saved

    saved = await save(slack, view, set_send_window="mon,tue-thu  08:30-12:00", set_holiday_country="be")
    assert saved["response_action"] == "update"
    session.expire_all()
    row = (await session.execute(select(OrganisationSettingsRow))).scalar_one()
    assert (row.send_window, row.holiday_country) == ("Mon-Thu 08:30-12:00", "BE")  # stored as a person writes it
    [audit] = (await session.execute(select(AuditLog))).scalars().all()
    assert audit.detail["changes"]["send_window"] == ["Mon-Fri 09:00-17:00", "Mon-Thu 08:30-12:00"]
