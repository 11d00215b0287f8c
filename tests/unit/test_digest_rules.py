"""The digest's pure rules: its settings (time zone, hour, weekly day), when a day's digest is owed
(services/digest_schedule.py), the buckets of what is owed by age, and the message built from a payload."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from handlers.blocks.digest import digest_message
from services.digest_schedule import DigestSchedule, owed_slot
from services.errors import FieldErrors
from services.invoicing.aging import age_bucket
from services.invoicing.settings import OrganisationSettingsValues, check_settings, form_of
from services.postal_address import PostalAddress

STORED = OrganisationSettingsValues(
    admins=("U0ALICE",),
    legal_name="Example Trading Ltd",
    address=PostalAddress(street="1 Example Street", city="London", country="GB"),
    sender_email="invoices@example.com",
)
TOKYO = ZoneInfo("Asia/Tokyo")
SCHEDULE = DigestSchedule(zone=TOKYO, hour=8, weekly_day=4)  # Friday


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO).astimezone(UTC)


def test_the_digest_is_off_by_default_in_utc_with_the_summary_on_monday_and_survives_the_form() -> None:
    assert (STORED.time_zone, STORED.digest_hour, STORED.weekly_summary_day) == ("UTC", None, 0)
    assert (form_of(STORED).digest_hour, form_of(STORED).weekly_summary_day) == ("off", "monday")
    chosen = replace(STORED, time_zone="Europe/Brussels", digest_hour=9, weekly_summary_day=4)
    assert check_settings(form_of(chosen), before=STORED) == chosen
    assert chosen.changes_from(STORED) == {
        "time_zone": ["UTC", "Europe/Brussels"],
        "digest_hour": [None, 9],
        "weekly_summary_day": [0, 4],
    }


@pytest.mark.parametrize(
    ("field", "typed", "error"),
    [
        ("time_zone", "Mars/Olympus", "is not a time zone name"),
        ("time_zone", "../../etc/passwd", "is not a time zone name"),
        ("digest_hour", "24", "is not an hour"),
        ("digest_hour", "9am", "is not an hour"),
        ("weekly_summary_day", "someday", "is not a day of the week"),
    ],
)
def test_a_wrong_time_zone_hour_or_day_is_named_on_its_field(field: str, typed: str, error: str) -> None:
    with pytest.raises(FieldErrors) as refused:
        check_settings(replace(form_of(STORED), **{field: typed}), before=STORED)  # type: ignore[arg-type]
    assert list(refused.value.errors) == [field]
    assert error in refused.value.errors[field]


def test_a_day_is_typed_by_name_or_its_first_three_letters() -> None:
    for typed in ("Friday", "fri", "4"):
        assert check_settings(replace(form_of(STORED), weekly_summary_day=typed), before=STORED).weekly_summary_day == 4


def test_the_first_digest_is_todays_at_its_hour_in_the_organisations_zone_never_yesterdays() -> None:
    day = date(2026, 12, 4)
    assert owed_slot(SCHEDULE, local(day, 7, 59), last_period=None) is None
    slot = owed_slot(SCHEDULE, local(day, 8, 0), last_period=None)
    assert slot is not None and (slot.period, slot.late, slot.missed_days, slot.weekly) == (
        "2026-12-04",
        False,
        0,
        True,
    )
    assert owed_slot(SCHEDULE, local(day, 23, 0), last_period=None) is not None  # enabled late: today's, not late


def test_after_an_outage_one_slot_is_owed_the_latest_with_the_days_missed_and_any_weekly_day_among_them() -> None:
    slot = owed_slot(SCHEDULE, local(date(2026, 12, 8), 9, 0), last_period="2026-12-03")
    assert slot is not None
    assert (slot.period, slot.late, slot.missed_days, slot.weekly) == ("2026-12-08", True, 4, True)  # Friday the 4th
    assert slot.since == local(date(2026, 12, 3), 8, 0)
    # back before the hour: yesterday's digest, late, once
    early = owed_slot(SCHEDULE, local(date(2026, 12, 8), 7, 0), last_period="2026-12-03")
    assert early is not None and (early.period, early.late) == ("2026-12-07", True)
    assert owed_slot(SCHEDULE, local(date(2026, 12, 8), 7, 0), last_period="2026-12-07") is None


def test_a_digest_more_than_an_hour_after_its_hour_says_it_is_late() -> None:
    on_time = owed_slot(SCHEDULE, local(date(2026, 12, 8), 8, 59), last_period="2026-12-07")
    late = owed_slot(SCHEDULE, local(date(2026, 12, 8), 9, 1), last_period="2026-12-07")
    assert on_time is not None and late is not None and (on_time.late, late.late) == (False, True)
    _text, blocks = digest_message({"day": "2026-12-08", "late": True, "missed_days": 0, "due_at": "08:00"})
    assert blocks[0]["text"]["text"] == "*Daily digest — 2026-12-08* (late: due at 08:00, the bot was not running then)"


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-3, "current"), (0, "current"), (1, "1–30"), (30, "1–30"), (31, "31–60"), (61, "61–90"), (91, "90+")],
)
def test_the_age_buckets(days: int, bucket: str) -> None:
    assert age_bucket(days) == bucket


def test_customer_text_in_the_digest_is_escaped() -> None:
    payload = {
        "day": "2026-12-04",
        "problems": {
            "count": 1,
            "items": [{"number": "A-1", "customer": "<!channel> *Evil*", "status": "bounced", "to": []}],
        },
    }
    _text, blocks = digest_message(payload)
    problems = blocks[3]["text"]["text"]
    assert "<!channel>" not in problems and "&lt;!channel&gt;" in problems
