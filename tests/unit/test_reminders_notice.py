"""The reminder scheduler's notes in the notify channel, as pure blocks: what a person reads."""

from __future__ import annotations

from handlers.blocks.reminders_notice import MAX_NAMED, reminders_message
from tests.harness.reading import texts


def test_reminders_that_could_not_go_are_named_with_their_reason_and_escaped():
    text, blocks = reminders_message(
        {"not_sent": [["Acme <Corp>", ["A-1", "A-2"], "the customer has no email address to send it to"]]}
    )
    assert text == "✋ Reminders could not send 1 reminder — a person must"
    assert texts(blocks) == [
        "*✋ Reminders could not send 1 reminder — a person must:*\n"
        "• Acme &lt;Corp&gt; (*A-1*, *A-2*) — the customer has no email address to send it to",
        "They are not retried: fix the customer, then remind them by hand.",
    ]


def test_a_catch_up_lists_what_was_caught_up_and_counts_beyond_the_limit():
    caught = [{"customer": f"C{index}", "step": 7, "numbers": [f"I-{index}"]} for index in range(MAX_NAMED + 2)]
    _, blocks = reminders_message({"day": "2026-12-09", "caught_up": caught, "skipped": []})
    lines = texts(blocks)
    assert lines[0].startswith(f"*🔁 Reminders caught up {MAX_NAMED + 2} reminders reached while nothing ran*\n")
    assert lines[0].endswith("…and 2 more")
    assert lines[1] == "Caught up on 2026-12-09: the latest step reached, once; none is ever sent twice."
