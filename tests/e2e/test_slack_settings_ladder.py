"""The organisation's reminder ladder in the settings modal: one text field in the CLI's syntax.

Through the real web app with signed requests and the fake Slack: the field shows the organisation's own
ladder (empty while the built-in default applies); a good ladder is stored as rows and audited
(`reminders.ladder_set`) with the settings' change; a wrong one is the sentence under the field and
nothing is written; emptying the field returns to the built-in default.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import AuditLog, Organisation, ReminderStep
from tests.harness.reading import input_blocks, state_values
from tests.harness.slack import ALICE, settings_with

settings = settings_with(INVOICEBOT_ADMINS="U0ALICE", INVOICEBOT_NOTIFY_CHANNEL="C0NOTIFY")


async def settings_modal(slack: SlackRequestClient, fake_slack: FakeSlackApi) -> dict[str, Any]:
    """Alice (an admin) types `/invoices settings`; the newest modal as the fake Slack holds it."""
    opened = len(fake_slack.calls_to("views.open"))
    response = await slack.command("settings", user=ALICE, response_url=fake_slack.response_url())
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    return dict(fake_slack.views[list(fake_slack.views)[-1]])


async def save(slack: SlackRequestClient, view: dict[str, Any], **typed: Any) -> dict[str, Any]:
    response = await slack.submit(view, state_values(view, **typed), user=ALICE)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def ladder_rows(session: AsyncSession) -> list[tuple[int | None, int, str, str | None]]:
    await session.commit()  # a new transaction: see what the web app committed
    rows = (await session.scalars(select(ReminderStep).order_by(ReminderStep.offset_days))).all()
    return [
        (row.customer_id, row.offset_days, row.tone.value, None if row.fee is None else f"{row.fee:.2f}")
        for row in rows
    ]


async def ladder_audits(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    await session.commit()
    rows = (await session.scalars(select(AuditLog).where(AuditLog.action == "reminders.ladder_set"))).all()
    return [(row.actor, dict(row.detail or {})) for row in rows]


async def test_a_ladder_typed_in_the_settings_is_stored_audited_and_shown_back(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    fake_slack.add_channel("C0NOTIFY", "invoices")
    view = await settings_modal(slack, fake_slack)
    field = input_blocks(view)["set_reminder_ladder"]
    assert "initial_value" not in field["element"]  # the built-in default: nothing of the organisation's own
    assert "Empty: the built-in -3 friendly, 0 friendly, +7 neutral, +14 firm, +30 firm" in field["hint"]["text"]

    answer = await save(slack, view, set_reminder_ladder="-5 friendly, 0 neutral,\n+10 firm fee 12.50")

    assert answer["response_action"] == "update"
    assert answer["view"]["blocks"][0]["text"]["text"] == (
        "✅ Saved: reminder ladder. The change applies now, everywhere (no restart)."
    )
    assert await ladder_rows(session) == [
        (None, -5, "friendly", None),
        (None, 0, "neutral", None),
        (None, 10, "firm", "12.50"),
    ]
    assert await ladder_audits(session) == [("U0ALICE", {"steps": ["-5 friendly", "+0 neutral", "+10 firm fee 12.50"]})]
    again = await settings_modal(slack, fake_slack)
    assert input_blocks(again)["set_reminder_ladder"]["element"]["initial_value"] == (
        "-5 friendly, +0 neutral, +10 firm fee 12.50"
    )

    unchanged = await save(slack, again)  # saving the same ladder writes nothing more
    assert unchanged["view"]["blocks"][0]["text"]["text"] == "Nothing changed."
    emptied = await save(slack, await settings_modal(slack, fake_slack), set_reminder_ladder="")
    assert emptied["response_action"] == "update"
    assert await ladder_rows(session) == []  # the built-in default again
    assert [detail for _actor, detail in await ladder_audits(session)][1:] == [{"steps": []}]


async def test_a_wrong_ladder_is_the_sentence_under_its_field_and_nothing_is_written(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    fake_slack.add_channel("C0NOTIFY", "invoices")
    view = await settings_modal(slack, fake_slack)
    session.expire_all()  # see the settings the web app seeded
    version = (await session.execute(select(Organisation))).scalar_one().settings_version

    gentler = await save(slack, view, set_reminder_ladder="0 firm, +7 friendly", set_legal_name="Renamed Ltd")
    repeated = await save(slack, view, set_reminder_ladder="7 neutral, +7 firm")
    no_fee = await save(slack, view, set_reminder_ladder="7 firm fee 0")

    assert gentler == {
        "response_action": "errors",
        "errors": {
            "set_reminder_ladder": "The +7 step is friendly after a firm one: a ladder only gets firmer "
            "(friendly, neutral, firm)."
        },
    }
    assert repeated["errors"] == {
        "set_reminder_ladder": "Two steps at +7 days: each day from the due date takes one step."
    }
    assert no_fee["errors"]["set_reminder_ladder"].startswith("The fee of the +7 step must be more than zero")
    session.expire_all()
    organisation = (await session.execute(select(Organisation))).scalar_one()
    assert (organisation.settings_version, organisation.name) == (version, "Example Trading Ltd")
    assert await ladder_rows(session) == []
    assert not (await session.execute(select(AuditLog))).scalars().all()
