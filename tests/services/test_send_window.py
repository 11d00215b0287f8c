"""The send window: a person's words read strictly, and openings judged on the organisation's clock
(weekends, public holidays, time zones and daylight saving), never by the server's."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.errors import InvalidInput
from services.invoicing.send_window import DEFAULT_SEND_WINDOW, parse_send_window

BRUSSELS = ZoneInfo("Europe/Brussels")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("", DEFAULT_SEND_WINDOW),
        ("mon-fri 09:00-17:00", "Mon-Fri 09:00-17:00"),
        ("Monday, Wednesday 8:30-12:00", "Mon,Wed 08:30-12:00"),
        ("sat-mon 22:00-24:00", "Mon,Sat-Sun 22:00-24:00"),
        ("every day 00:00-24:00", "every day 00:00-24:00"),
    ],
)
def test_a_window_is_stored_as_a_person_writes_it(typed: str, stored: str):
    assert parse_send_window(typed).text() == stored


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("Mon-Fri", "'Mon-Fri' is not a send window: write days and hours, like Mon-Fri 09:00-17:00"),
        ("Mo-Fr 09:00-17:00", "'mo' in 'Mo-Fr 09:00-17:00' is not a day of the week (Mon, Tue, … Sun)"),
        (
            "Mon-Fri 17:00-09:00",
            "in 'Mon-Fri 17:00-09:00' the hours must run forwards within one day, like 09:00-17:00",
        ),
        ("Mon-Fri 09:00-25:00", "'25:00' in 'Mon-Fri 09:00-25:00' is not a time of day (00:00 to 24:00)"),
        (
            "Mon-Tue-Wed 09:00-10:00",
            "'mon-tue-wed' in 'Mon-Tue-Wed 09:00-10:00' is not a day or a range of days, like Mon-Fri",
        ),
    ],
)
def test_a_wrong_window_is_refused_with_a_sentence(typed: str, sentence: str):
    with pytest.raises(InvalidInput) as refused:
        parse_send_window(typed)
    assert str(refused.value) == sentence


def test_openings_follow_the_organisations_clock_not_the_servers():
    window = parse_send_window(DEFAULT_SEND_WINDOW)
    # 08:30 UTC on a Monday in winter is 09:30 in Brussels: open there, closed in New York (03:30)
    assert window.is_open(at("2026-12-07T08:30:00"), BRUSSELS)
    assert not window.is_open(at("2026-12-07T08:30:00"), ZoneInfo("America/New_York"))
    # 16:00 UTC is 17:00 in Brussels: the window has just closed (the end is not inside)
    assert not window.is_open(at("2026-12-07T16:00:00"), BRUSSELS)
    # Friday evening: the next opening is Monday 09:00 local = 08:00 UTC
    assert window.next_opening(at("2026-12-04T18:00:00"), BRUSSELS) == at("2026-12-07T08:00:00")
    # inside the window: now
    assert window.next_opening(at("2026-12-07T10:00:00"), BRUSSELS) == at("2026-12-07T10:00:00")


def test_public_holidays_close_the_window_when_a_country_is_set():
    window = parse_send_window(DEFAULT_SEND_WINDOW, holiday_country="be")
    assert window.holiday_country == "BE"
    christmas_eve_evening = at("2026-12-24T20:00:00")  # Thursday; Friday 25 is Christmas, then the weekend
    assert window.next_opening(christmas_eve_evening, BRUSSELS) == at("2026-12-28T08:00:00")
    assert parse_send_window(DEFAULT_SEND_WINDOW).next_opening(christmas_eve_evening, BRUSSELS) == at(
        "2026-12-25T08:00:00"
    )
    with pytest.raises(InvalidInput, match="'XX' is not a country"):
        parse_send_window(DEFAULT_SEND_WINDOW, holiday_country="XX")


def test_daylight_saving_moves_the_utc_opening_not_the_local_one():
    window = parse_send_window(DEFAULT_SEND_WINDOW)
    # Brussels leaves summer time on Sunday 25 October 2026: 09:00 local is 07:00 UTC on Friday, 08:00 on Monday
    assert window.next_opening(at("2026-10-22T20:00:00"), BRUSSELS) == at("2026-10-23T07:00:00")
    assert window.next_opening(at("2026-10-23T20:00:00"), BRUSSELS) == at("2026-10-26T08:00:00")
