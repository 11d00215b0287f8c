"""The demo's own pieces: the bounce report it writes, the folder the bounce loop reads, the console's text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bounce_mailbox import BounceMailbox, MailboxPolling
from bot.sandbox.console_blocks import Clickable, Where, parse_choice, render_blocks, state_values
from bot.sandbox.dsn import BounceRule, Relay, build_dsn
from bot.sandbox.folder_mailbox import FolderMailbox
from services.db.models import DeliveryEvent, Organisation
from services.tracking.bounces import read_bounce
from tests.harness.sending import SECRET, queue_delivery

ORIGINAL = (
    b"From: Example Trading Ltd <invoices@example.com>\r\nTo: bounce@bounce.example\r\n"
    b"Subject: Invoice DEMO-0009\r\nMessage-ID: <demo-0009@example.com>\r\n\r\nDear customer,\r\n"
)
RULE = BounceRule("5.1.1", "550 5.1.1 <bounce@bounce.example>: Recipient address rejected: User unknown")


def report(return_path: str) -> bytes:
    now = datetime.now(UTC)
    return build_dsn(
        original=ORIGINAL,
        return_path=return_path,
        recipient="bounce@bounce.example",
        rule=RULE,
        relay=Relay(hostname="sandbox.invoicebot.test", arrived=now, gave_up=now),
    )


def test_the_demo_bounce_is_an_rfc_3464_report_read_as_a_hard_bounce_with_its_verp_token():
    reading = read_bounce(report("bounces+tok3n@example.com"))

    assert reading.report is not None and reading.report.kind == "rfc3464"
    [bounced] = reading.report.recipients
    assert (bounced.recipient, bounced.status, bounced.bounce_kind) == ("bounce@bounce.example", "5.1.1", "hard")
    assert "User unknown" in (bounced.diagnostic or "")
    assert reading.report.verp_token == "tok3n"
    assert reading.report.original_message_id == "<demo-0009@example.com>"


async def test_the_bounce_loop_files_a_report_from_the_folder_and_moves_it_to_cur(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], org: Organisation, tmp_path: Path
):
    delivery = await queue_delivery(session, org, to=("bounce@bounce.example",), number="DEMO-0009")
    folder = FolderMailbox(tmp_path / "bounces").create()
    folder.deliver(report(f"bounces+{delivery.verp_token}@example.com"))
    assert len(folder.unseen_names()) == 1
    mailbox = BounceMailbox(mailbox=folder, sessions=sessions, verp_secret=SECRET, polling=MailboxPolling(timeout=5))

    stats = await mailbox.poll_once()

    assert (stats.fetched, stats.parsed, stats.imap_errors) == (1, 1, 0)
    assert folder.unseen_names() == [] and len(folder.seen_names()) == 1
    async with sessions() as check:
        events = list((await check.execute(select(DeliveryEvent.delivery_id, DeliveryEvent.type))).all())
    assert [tuple(event) for event in events] == [(delivery.id, "bounced")]
    assert (await mailbox.poll_once()).fetched == 0  # filed once, never read again


async def test_a_report_for_no_known_send_is_filed_as_an_orphan_and_not_read_again(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
):
    folder = FolderMailbox(tmp_path / "bounces").create()
    folder.deliver(report("bounces+unknown@example.com"))
    mailbox = BounceMailbox(mailbox=folder, sessions=sessions, verp_secret=SECRET)

    stats = await mailbox.poll_once()

    assert (stats.fetched, stats.orphan) == (1, 1)
    assert folder.unseen_names() == [] and folder.seen_names()[0].endswith(":2,SI")


def test_the_console_numbers_buttons_and_menu_options_and_reads_mrkdwn_as_plain_text():
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*DEMO-0001* · Acme &amp; Co, asked by <@U0ALICE>"}},
        {
            "type": "actions",
            "block_id": "due_row:1:",
            "elements": [
                {"type": "button", "action_id": "review", "text": {"type": "plain_text", "text": "Review & send"}},
                {
                    "type": "overflow",
                    "action_id": "menu",
                    "options": [{"text": {"type": "plain_text", "text": "Preview PDF"}, "value": "preview:DEMO-0001"}],
                },
            ],
        },
    ]
    numbered: list[str] = []

    def number(clickable: Clickable) -> int:
        numbered.append(f"{clickable.label} @ {clickable.context.strip()}")
        return len(numbered)

    lines = render_blocks(blocks, where=Where("reply"), number=number, names={"U0ALICE": "alice"})

    assert lines == ["  DEMO-0001 · Acme & Co, asked by @alice", "    [1] Review & send  [2] ⋯ Preview PDF"]
    assert numbered[1] == "Preview PDF @ DEMO-0001 · Acme & Co, asked by @alice preview:DEMO-0001"


def test_a_modal_field_takes_text_a_choice_by_label_and_a_checkbox_as_yes():
    options = [
        {"text": {"type": "plain_text", "text": label}, "value": value}
        for value, label in (("pdf", "PDF"), ("ubl", "UBL"))
    ]
    tick = {"text": {"type": "plain_text", "text": "Send me a preview first"}, "value": "yes"}
    view = {
        "blocks": [
            {
                "type": "input",
                "block_id": "to",
                "label": {"text": "To"},
                "element": {"type": "plain_text_input", "action_id": "input", "initial_value": "a@x.example"},
            },
            {
                "type": "input",
                "block_id": "attach",
                "label": {"text": "Attach"},
                "element": {
                    "type": "radio_buttons",
                    "action_id": "input",
                    "options": options,
                    "initial_option": options[0],
                },
            },
            {
                "type": "input",
                "block_id": "preview",
                "label": {"text": "Preview"},
                "element": {"type": "checkboxes", "action_id": "input", "options": [tick]},
            },
        ]
    }
    typed = {"attach": parse_choice(view["blocks"][1], "ubl"), "preview": parse_choice(view["blocks"][2], "yes")}

    values = state_values(view, typed)

    assert values["to"] == {"input": {"type": "plain_text_input", "value": "a@x.example"}}
    assert values["attach"]["input"]["selected_option"]["value"] == "ubl"
    assert values["preview"]["input"]["selected_options"] == [tick]
