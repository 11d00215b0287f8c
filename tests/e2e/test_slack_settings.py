"""The organisation's settings in Slack: admins only, inline errors, audited, live in every process.

Through the real web app with signed requests and the fake Slack: `/invoices settings` opens
the modal filled from the database (seeded from the environment on first start), a submission
with bad values is answered inline and changes no row, a good one is stored, versioned and
audited, and a second process (another bootstrap over the same database) follows the change
on its next request without a restart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, Runtime, Seams, bootstrap
from bot.config import Settings
from bot.runner import web_server
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, SlackUserRef, button_click
from handlers.ids import ActionId
from services.db.models import AuditLog, Delivery, Organisation, OrganisationSettingsRow
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, state_values
from tests.harness.seeding import seed_invoice
from tests.harness.servers import running
from tests.harness.slack import ALICE, BOB, SIGNING_SECRET, TODAY, settings_with

CAROL = SlackUserRef(id="U0CAROL", team_id="T0OWN", name="carol")
APPROVALS = "C0APPROVE"

settings = settings_with(
    INVOICEBOT_ADMINS="U0ALICE",
    INVOICEBOT_APPROVAL_POLICY="always",
    INVOICEBOT_APPROVERS="U0BOB",
    INVOICEBOT_APPROVERS_CHANNEL=APPROVALS,
    INVOICEBOT_NOTIFY_CHANNEL="C0NOTIFY",
    INVOICEBOT_SECRET_KEY="test-verp-secret",
)


async def open_settings(slack: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef) -> httpx.Response:
    return await slack.command("settings", user=user, response_url=fake_slack.response_url())


async def settings_modal(slack: SlackRequestClient, fake_slack: FakeSlackApi) -> dict[str, Any]:
    """Alice (an admin) types `/invoices settings`; the modal as the fake Slack holds it."""
    opened = len(fake_slack.calls_to("views.open"))
    response = await open_settings(slack, fake_slack, ALICE)
    assert response.status_code == 200
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.open")) > opened)
    return dict(fake_slack.views[max(fake_slack.views, key=lambda key: list(fake_slack.views).index(key))])


async def save(slack: SlackRequestClient, view: dict[str, Any], **typed: Any) -> dict[str, Any]:
    response = await slack.submit(view, state_values(view, **typed), user=ALICE)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def stored(session: AsyncSession) -> tuple[Organisation, OrganisationSettingsRow]:
    session.expire_all()
    organisation = (await session.execute(select(Organisation))).scalar_one()
    row = (await session.execute(select(OrganisationSettingsRow))).scalar_one()
    return organisation, row


async def test_a_non_admin_is_refused_and_no_modal_opens(slack: SlackRequestClient, fake_slack: FakeSlackApi):
    response = await open_settings(slack, fake_slack, BOB)

    assert response.json()["text"] == "You can't change the settings: only admins can; ask an admin to do it for you."
    assert response.json()["response_type"] == "ephemeral"
    assert not fake_slack.calls_to("views.open")


async def test_the_modal_shows_what_the_environment_seeded_on_first_start(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    fake_slack.add_usergroup("S0FINANCE", handle="finance", users=["U0CAROL"])

    view = await settings_modal(slack, fake_slack)

    blocks = input_blocks(view)
    assert blocks["set_admins"]["element"]["initial_users"] == ["U0ALICE"]
    assert blocks["set_approvers"]["element"]["initial_users"] == ["U0BOB"]
    assert [o["value"] for o in blocks["set_approvers_groups"]["element"]["options"]] == ["S0FINANCE"]
    assert blocks["set_approval_policy"]["element"]["initial_option"]["value"] == "always"
    assert blocks["set_notify_channel"]["element"]["initial_conversation"] == "C0NOTIFY"
    assert blocks["set_sender_email"]["element"]["initial_value"] == "invoices@example.com"
    organisation, row = await stored(session)
    assert (row.approvers, row.admins, organisation.settings_version) == (["U0BOB"], ["U0ALICE"], 1)


async def test_bad_values_are_answered_on_their_fields_and_nothing_is_saved(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    fake_slack.add_channel(APPROVALS, "invoices")
    view = await settings_modal(slack, fake_slack)
    before_org, before_row = await stored(session)
    version, approvers = before_org.settings_version, list(before_row.approvers)

    answer = await save(
        slack,
        view,
        set_sender_email="not an address",
        set_approval_threshold="-5",
        set_tax_id="GB123",
        set_country="XX",
        set_notify_channel="C0NOTJOINED",
        set_cc="archive@example.com, nope",
        set_approvers=["U0CAROL"],
    )

    assert answer["response_action"] == "errors"
    errors = answer["errors"]
    assert set(errors) == {
        "set_sender_email",
        "set_approval_threshold",
        "set_country",
        "set_notify_channel",
        "set_cc",
    }
    assert "/invite @invoicebot" in errors["set_notify_channel"]
    assert errors["set_approval_threshold"] == "the threshold cannot be negative"
    organisation, row = await stored(session)
    assert (organisation.settings_version, row.approvers) == (version, approvers)
    assert not (await session.execute(select(AuditLog))).scalars().all()


async def test_a_vat_number_is_checked_for_its_country(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    fake_slack.add_channel("C0NOTIFY", "invoices")
    fake_slack.add_channel(APPROVALS, "invoices")
    view = await settings_modal(slack, fake_slack)

    answer = await save(slack, view, set_tax_id="GB123456780")

    assert answer == {
        "response_action": "errors",
        "errors": {
            "set_tax_id": "the VAT number 'GB123456780' is not a valid GB VAT number "
            "(The number's checksum or check digit is invalid.)"
        },
    }


async def test_a_valid_change_is_saved_versioned_and_audited(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    fake_slack.add_usergroup("S0FINANCE", handle="finance", users=["U0CAROL", "U0DAVE"])
    fake_slack.add_channel("C0BOOKS", "invoices")
    fake_slack.add_channel(APPROVALS, "invoices")
    view = await settings_modal(slack, fake_slack)

    answer = await save(
        slack,
        view,
        set_approvers=[],
        set_approvers_groups=["S0FINANCE"],
        set_approval_policy="above_amount",
        set_approval_threshold="1000",
        set_notify_channel="C0BOOKS",
        set_approvers_channel="",
        set_tax_id="GB980780684",
        set_cc="archive@example.com",
    )

    assert answer["response_action"] == "update"
    assert answer["view"]["blocks"][0]["text"]["text"].startswith("✅ Saved: ")
    organisation, row = await stored(session)
    assert row.approvers == ["S0FINANCE"] and row.group_members == {"S0FINANCE": ["U0CAROL", "U0DAVE"]}
    assert (row.approval_policy, row.approval_threshold) == ("above_amount", Decimal(1000))
    assert row.notify_channel == "C0BOOKS"
    assert (row.cc, organisation.tax_id, organisation.settings_version, row.updated_by) == (
        ["archive@example.com"],
        "GB980780684",
        2,
        "U0ALICE",
    )
    [audit] = (await session.execute(select(AuditLog))).scalars().all()
    assert (audit.actor, audit.action) == ("U0ALICE", "settings_changed")
    assert audit.detail["changes"]["approval_policy"] == ["always", "above_amount"]
    assert audit.detail["changes"]["notify_channel"] == ["C0NOTIFY", "C0BOOKS"]


async def test_a_slow_slack_still_gets_its_answer_in_time_with_an_error_on_each_slow_field(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    """Three Slack calls that each answer after 2 s: asked one after the other they would take 6 s,
    twice Slack's 3 s; asked at once and bounded, the admin reads which fields to save again."""
    fake_slack.add_usergroup("S0FINANCE", handle="finance", users=["U0CAROL"])
    fake_slack.add_channel("C0BOOKS", "invoices")
    fake_slack.add_channel(APPROVALS, "invoices")
    view = await settings_modal(slack, fake_slack)
    before_org, _ = await stored(session)
    fake_slack.delay_next("conversations.info", seconds=2.0, times=2)
    fake_slack.delay_next("usergroups.users.list", seconds=2.0)
    asked_before = len(fake_slack.calls_to("conversations.info"))

    started = time.monotonic()
    answer = await save(
        slack, view, set_approvers_groups=["S0FINANCE"], set_notify_channel="C0BOOKS", set_approvers_channel=APPROVALS
    )
    elapsed = time.monotonic() - started

    assert elapsed < 3.0, f"answered after {elapsed:.2f} s: Slack gives up at 3 s"
    assert answer["response_action"] == "errors"
    errors = answer["errors"]
    assert set(errors) == {"set_notify_channel", "set_approvers_channel", "set_approvers_groups"}
    assert errors["set_notify_channel"].startswith("Slack did not say in time whether the bot is in this channel")
    assert errors["set_approvers_groups"] == "Slack did not list this group's members in time: save again."
    assert len(fake_slack.calls_to("conversations.info")) == asked_before + 2
    organisation, _ = await stored(session)
    assert organisation.settings_version == before_org.settings_version
    assert not (await session.execute(select(AuditLog))).scalars().all()


async def test_the_settings_button_on_app_home_is_shown_to_admins_only(
    slack: SlackRequestClient, fake_slack: FakeSlackApi
):
    for user in (ALICE, BOB):
        await slack.event({"type": "app_home_opened", "user": user.id, "tab": "home"})
    await fake_slack.wait_until(lambda: {"U0ALICE", "U0BOB"} <= set(fake_slack.home_views))

    def buttons(user: str) -> list[str]:
        blocks = fake_slack.home_views[user]["blocks"]
        return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]

    assert buttons("U0ALICE") == [ActionId.OPEN_SETTINGS]
    assert buttons("U0BOB") == []
    [block] = [b for b in fake_slack.home_views["U0ALICE"]["blocks"] if b["type"] == "actions"]
    await slack.click(button_click(block["elements"][0], block_id="home_admin"), user=ALICE, response_url="")
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.open")))


@pytest.fixture
async def second_process(settings: Settings, runtime: Runtime) -> AsyncIterator[SlackRequestClient]:
    """Another web process over the same database (its own bootstrap, cache and port)."""
    other = bootstrap(settings, seams=Seams(today=lambda: TODAY))
    server = web_server(other, host="127.0.0.1", port=0, log_level="warning")
    try:
        async with running(server) as url, httpx.AsyncClient(timeout=10) as http:
            yield SlackRequestClient(events_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET, http=http)
    finally:
        await other.aclose()


async def drain(settings: Settings) -> None:
    runtime = bootstrap(settings, loops=[Loop.NOTIFIER])
    assert runtime.notifier is not None
    try:
        for _ in range(5):
            if not await runtime.notifier.drain_once():
                return
    finally:
        await runtime.aclose()


async def approve(other: SlackRequestClient, fake_slack: FakeSlackApi, user: SlackUserRef) -> str:
    [request] = fake_slack.messages[APPROVALS]
    [(element, block_id)] = [
        (e, b["block_id"]) for b in request.blocks if b["type"] == "actions" for e in b["elements"]
        if e["text"]["text"] == "Approve"
    ]  # fmt: skip
    key = f"{user.id}-approve-{len(fake_slack.responses)}"
    await other.click(
        button_click(element, block_id=block_id), user=user, response_url=fake_slack.response_url(key),
        channel_id=APPROVALS, message_ts=request.ts,
    )  # fmt: skip
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to(key)))
    return str(fake_slack.responses_to(key)[0].body["text"])


async def test_a_change_of_approvers_takes_effect_in_another_process_without_restart(
    slack: SlackRequestClient,
    second_process: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    settings: Settings,
):
    await seed_invoice(session, org)
    # The second process serves Alice's send first: it has read (and cached) Bob as the approver.
    review = await open_review(second_process, fake_slack, "INV-0001")
    await submit(second_process, review, fake_slack=fake_slack)
    await drain(settings)
    fake_slack.add_channel("C0NOTIFY", "invoices")
    fake_slack.add_channel(APPROVALS, "invoices")

    # Alice, an admin, makes Carol the approver through the first process.
    answer = await save(slack, await settings_modal(slack, fake_slack), set_approvers=["U0CAROL"])
    assert answer["response_action"] == "update"

    assert await approve(second_process, fake_slack, BOB) == "You can't approve this: only approvers can."
    assert "approved" in (await approve(second_process, fake_slack, CAROL)).lower()
    session.expire_all()
    delivery = (await session.execute(select(Delivery))).scalar_one()
    assert delivery.approved_by == "U0CAROL"


async def test_the_organisations_own_copies_are_in_the_review_modal_and_removable(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    fake_slack.add_channel("C0NOTIFY", "invoices")
    fake_slack.add_channel(APPROVALS, "invoices")
    answer = await save(
        slack, await settings_modal(slack, fake_slack), set_cc="archive@example.com", set_bcc="audit@example.com"
    )
    assert answer["response_action"] == "update"
    await seed_invoice(session, org)

    review = await open_review(slack, fake_slack, "INV-0001")

    blocks = input_blocks(review)
    assert blocks["review_cc"]["element"]["initial_value"] == "archive@example.com"
    assert blocks["review_bcc"]["element"]["initial_value"] == "audit@example.com"
    await submit(slack, review, fake_slack=fake_slack, review_bcc="")  # removed for this send
    session.expire_all()
    delivery = (await session.execute(select(Delivery))).scalar_one()
    assert (delivery.cc, delivery.bcc) == (["archive@example.com"], [])


async def test_bank_details_are_checked_inline_and_saved_compact(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession
):
    """A mistyped IBAN (one wrong digit) or a BIC of the wrong shape is named on its own field by
    python-stdnum's check and nothing is saved; a good one, typed the way people do (spaces, lower
    case), is stored compact, audited, and shown back in blocks of four."""
    fake_slack.add_channel("C0NOTIFY", "invoices")
    fake_slack.add_channel(APPROVALS, "invoices")
    view = await settings_modal(slack, fake_slack)
    assert {"set_iban", "set_bic", "set_account_holder"} <= set(input_blocks(view))

    answer = await save(slack, view, set_iban="BE71 0961 2345 6760", set_bic="GKCC")

    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"set_iban", "set_bic"}
    assert answer["errors"]["set_iban"].startswith("the IBAN 'BE71 0961 2345 6760' is not a valid IBAN")
    assert answer["errors"]["set_bic"].startswith("the BIC 'GKCC' is not a valid BIC")
    organisation, _ = await stored(session)
    assert (organisation.iban, organisation.bic, organisation.settings_version) == (None, None, 1)

    answer = await save(
        slack, view, set_iban="be71 0961 2345 6769", set_bic="gkccbebb", set_account_holder="Example Treasury BV"
    )

    assert answer["response_action"] == "update"
    organisation, _ = await stored(session)
    assert (organisation.iban, organisation.bic, organisation.account_holder) == (
        "BE71096123456769",
        "GKCCBEBB",
        "Example Treasury BV",
    )
    [audit] = (await session.execute(select(AuditLog))).scalars().all()
    assert audit.detail["changes"]["iban"] == [None, "BE71096123456769"]
    reopened = input_blocks(await settings_modal(slack, fake_slack))
    assert reopened["set_iban"]["element"]["initial_value"] == "BE71 0961 2345 6769"
