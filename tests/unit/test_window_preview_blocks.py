"""The send window's preview message and its Review modal, as pure functions of plain data."""

from __future__ import annotations

from datetime import date

from handlers.blocks.window_preview import ReviewTarget, review_modal, unticked, window_preview_message
from handlers.ids import ActionId
from services.reminders.preview import PreviewReminder, PreviewRound


def test_the_preview_names_counts_time_and_zone_and_trims_long_lists() -> None:
    payload = {
        "day": "2026-11-23",
        "at": "09:00",
        "time_zone": "Europe/Zurich",
        "reminders": [[f"Customer <{index}>", f"INV-{index}"] for index in range(40)],
        "invoices": ["A-1"],
    }
    text, blocks = window_preview_message(payload)
    assert text == "40 reminders and 1 invoice go out at 09:00 (Europe/Zurich)"
    reminders = blocks[1]["text"]["text"]
    assert "Customer &lt;0&gt; — INV-0" in reminders and reminders.endswith("…and 25 more")
    buttons = blocks[-1]["elements"]
    assert [button["action_id"] for button in buttons] == [ActionId.PREVIEW_REVIEW, ActionId.PREVIEW_SKIP_TODAY]
    assert buttons[1]["confirm"]["confirm"]["text"] == "Skip today"
    assert {button["value"] for button in buttons} == {"2026-11-23"}


def test_the_review_modal_ticks_everything_in_groups_of_ten_and_reads_back_what_was_unticked() -> None:
    found = PreviewRound(
        1,
        opening=None,
        local_day=date(2026, 11, 23),
        at="09:00",
        reminders=tuple(PreviewReminder(index, f"C{index}", (f"I-{index}",), 7) for index in range(1, 13)),
        invoices=("A-1",),
    )
    view = review_modal(found, ReviewTarget("2026-11-23", "C0NOTIFY", "1.2"))
    groups = [block for block in view["blocks"] if block["type"] == "input"]
    assert [len(block["element"]["options"]) for block in groups] == [10, 2, 1]
    assert all(block["element"]["initial_options"] == block["element"]["options"] for block in groups)
    state = {
        block["block_id"]: {
            "ticked": {"selected_options": [o for o in block["element"]["options"] if o["value"] != "r3"]}
        }
        for block in groups
        if block["block_id"] != "pv_i:0"
    } | {"pv_i:0": {"ticked": {"selected_options": []}}}
    assert unticked({**view, "state": {"values": state}}) == ((3,), ("A-1",))
    assert unticked({**view, "state": {"values": {}}}) == ((), ())  # nothing sent back: nothing is stopped
