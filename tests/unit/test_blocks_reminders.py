"""The reminder words of Slack's views, as a person reads them: history lines and every stop."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from handlers.blocks.reminders import history_line, lateness_words, next_words
from services.db.models import ReminderState, ReminderTone
from services.reminders.ladder import Step
from services.reminders.overview import InvoiceReminders, NextReminder, ReminderLine, Stop

TODAY = date(2026, 11, 23)


def _invoice(**changes: object) -> InvoiceReminders:
    values: dict[str, object] = {
        "number": "INV-1", "due_date": date(2026, 11, 10), "currency": "EUR", "total": Decimal(100),
        "paid": Decimal(0), "credited": Decimal(0), "outstanding": Decimal(100), "days_overdue": 13,
        "disputed_by": None, "disputed_reason": None, "promised_until": None, "history": (), "next": NextReminder(),
    }  # fmt: skip
    values.update(changes)
    return InvoiceReminders(**values)  # type: ignore[arg-type]


def test_a_history_line_says_what_became_of_the_reminder_and_its_note():
    sent = ReminderLine(7, "neutral", date(2026, 11, 17), ReminderState.SENT, "", "bounced")
    waiting = ReminderLine(
        0, "friendly", date(2026, 11, 10), ReminderState.QUEUED, "catch-up: reached 2 days ago", None
    )
    skipped = ReminderLine(14, "firm", date(2026, 11, 30), ReminderState.SKIPPED, "missed by 9 days <x>", None)

    assert history_line(sent, locale="en_GB") == "• 17 November 2026: step +7 neutral — email bounced"
    assert history_line(waiting, locale="en_GB") == (
        "• 10 November 2026: step +0 friendly — no email yet (catch-up: reached 2 days ago)"
    )
    assert (
        history_line(skipped, locale="en_GB")
        == "• 30 November 2026: step +14 firm — skipped (missed by 9 days &lt;x&gt;)"
    )


@pytest.mark.parametrize(
    ("nxt", "said"),
    [
        (NextReminder(step=Step(14, ReminderTone.FIRM), on=TODAY), "step +14 firm on today (with the next run)"),
        (NextReminder(step=Step(30, ReminderTone.FIRM), on=date(2026, 12, 10)), "step +30 firm on 10 December 2026"),
        (NextReminder(stop=Stop.PAID), "none: paid"),
        (NextReminder(stop=Stop.SENT_MANUALLY), "none: sent manually — reminders off"),
        (NextReminder(stop=Stop.LADDER_DONE), "none: the last step of the ladder was reached"),
        (
            NextReminder(stop=Stop.PAUSED, until=date(2026, 12, 1)),
            "none: customer paused until 1 December 2026; reminders resume on 2 December 2026",
        ),
    ],
)
def test_the_next_step_or_the_stop_in_words(nxt: NextReminder, said: str):
    assert next_words(_invoice(), nxt, today=TODAY, locale="en_GB") == said


def test_a_dispute_names_who_and_why_escaped():
    item = _invoice(disputed_by="U0BOB", disputed_reason="*never* ordered")
    assert next_words(item, NextReminder(stop=Stop.DISPUTED), today=TODAY, locale="en_GB") == (
        "none: disputed by <@U0BOB>: ∗never∗ ordered"
    )


def test_lateness_reads_before_on_and_after_the_due_date():
    assert [lateness_words(days) for days in (-1, -3, 0, 1, 13)] == [
        "due in 1 day", "due in 3 days", "due today", "1 day overdue", "13 days overdue",
    ]  # fmt: skip
