"""Each installed workspace has its own settings row: set at install, changed by its admins, never another's.

Through the real web app: the OAuth install writes the row (the installing user is the admin,
no channels yet); an admin's `/invoices settings` submission in workspace One (a signed
request with One's team id) changes One's sender name, channel and approvers, and a request
from workspace Two still sees Two's own settings.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_oauth import INSTALLER
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef
from services.db.models import AuditLog, Organisation, OrganisationSettingsRow
from tests.harness.reading import input_blocks, state_values
from tests.harness.workspaces import Browser, organisation_of

ADMIN_ONE = SlackUserRef(id=INSTALLER, team_id="T0ONE", name="installer")
ADMIN_TWO = SlackUserRef(id=INSTALLER, team_id="T0TWO", name="installer")


async def _settings_modal(slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef) -> dict[str, Any]:
    """`user` types `/invoices settings` in their workspace; the modal Slack was asked to open."""
    opened = len(fake_slack.calls_to("views.open"))
    answer = await slack.command("settings", user=user, response_url=fake_slack.response_url(user.team_id))
    assert answer.status_code == 200, answer.text
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    view: dict[str, Any] = fake_slack.calls_to("views.open")[-1].args["view"]
    return view


def _initial(view: dict[str, Any], field: str) -> Any:
    [element] = [
        block["element"] for block_id, block in input_blocks(view).items() if block_id.startswith(f"set_{field}")
    ]
    return element.get("initial_value") or element.get("initial_conversation") or element.get("initial_users")


async def _row(session: AsyncSession, team: str) -> dict[str, Any]:
    """The workspace's stored settings row, as committed by the app (plain values)."""
    session.expire_all()
    organisation = await organisation_of(session, team)
    assert organisation is not None
    row = (
        await session.execute(
            select(OrganisationSettingsRow).where(OrganisationSettingsRow.organisation_id == organisation.id)
        )
    ).scalar_one()
    return {column: getattr(row, column) for column in OrganisationSettingsRow.__table__.columns.keys()}  # noqa: SIM118


async def test_an_install_writes_the_workspaces_own_settings_with_the_installer_as_admin(
    browser: Browser, session: AsyncSession
):
    assert (await browser.install("T0ONE")).status_code == 200

    row = await _row(session, "T0ONE")
    organisation = await organisation_of(session, "T0ONE")
    assert row["admins"] == [INSTALLER]
    assert row["notify_channel"] is None and row["approvers_channel"] is None and row["cc"] == []
    assert organisation is not None and organisation.name == "One Trading"


async def test_a_settings_change_in_one_workspace_is_seen_in_its_requests_and_never_in_the_others(
    browser: Browser, slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    for team in ("T0ONE", "T0TWO"):
        assert (await browser.install(team)).status_code == 200
    fake_slack.add_channel("C0ONEBILLS", "one-bills")
    view = await _settings_modal(slack, fake_slack, ADMIN_ONE)
    values = state_values(
        view,
        set_sender_name="One Billing",
        set_notify_channel="C0ONEBILLS",
        set_approvers=["U0ANN"],
        set_country="GB",
    )

    answer = await slack.submit(view, values, user=ADMIN_ONE)

    assert answer.status_code == 200 and "errors" not in answer.text, answer.text
    one, two = await _row(session, "T0ONE"), await _row(session, "T0TWO")
    shown = ("sender_name", "notify_channel", "approvers")
    assert [one[name] for name in shown] == ["One Billing", "C0ONEBILLS", ["U0ANN"]]
    assert [two[name] for name in shown] == [None, None, []]
    again_one = await _settings_modal(slack, fake_slack, ADMIN_ONE)
    assert _initial(again_one, "sender_name") == "One Billing"
    assert _initial(again_one, "notify_channel") == "C0ONEBILLS"
    in_two = await _settings_modal(slack, fake_slack, ADMIN_TWO)
    assert _initial(in_two, "sender_name") is None
    assert _initial(in_two, "notify_channel") is None
    assert _initial(in_two, "legal_name") == "Two Imports"
    audits = (await session.execute(select(AuditLog).where(AuditLog.action == "settings_changed"))).scalars().all()
    assert [audit.organisation_id for audit in audits] == [one["organisation_id"]]


async def test_the_first_install_takes_over_the_single_installs_organisation_and_keeps_its_settings(
    browser: Browser, session: AsyncSession, org: Organisation
):
    session.add(OrganisationSettingsRow(organisation_id=org.id, admins=["U0ALICE"], updated_by="operator"))
    await session.commit()
    name, tax_id = org.name, org.tax_id

    assert (await browser.install("T0ONE")).status_code == 200

    taken = await organisation_of(session, "T0ONE")
    assert taken is not None and taken.id == org.id
    assert (taken.name, taken.tax_id) == (name, tax_id), "the workspace's install rewrote nothing"
    assert (await _row(session, "T0ONE"))["admins"] == ["U0ALICE"]
