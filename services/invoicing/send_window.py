"""When scheduled mail may go out: the organisation's send window (issue 14, item 5).

Autosend and reminders are produced whenever the schedule is evaluated, but they leave only
inside business hours on working days, in the organisation's time zone: a customer should not
receive a dunning letter at 03:00 on a Sunday. The window is written the way a person says it,
`Mon-Fri 09:00-17:00` (the default), `Mon,Wed,Fri 08:30-12:00`, `every day 00:00-24:00`, and
may close on a country's public holidays (`holiday_country`, ISO 3166 code, empty for none).

The calendar arithmetic is not written by hand: `dateutil.rrule` finds the next opening
(weekday rules across month and year ends) and `holidays` knows each country's public holidays.
A local opening that does not exist (a daylight-saving gap) is read as zoneinfo reads it, which
moves it forward by the gap; an opening that exists twice (the autumn fold) is the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.rrule import DAILY, rrule, weekday

from services.errors import InvalidInput
from services.invoicing.schedule_settings import WEEKDAYS

DEFAULT_SEND_WINDOW = "Mon-Fri 09:00-17:00"
MAX_SEND_WINDOW = 64
MAX_PREVIEW_LEAD = 24 * 60  # minutes: a preview is at most a day ahead of the opening it announces
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SHAPE = re.compile(r"^(?P<days>.+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")
_LOOKAHEAD_DAYS = 400  # a window open at least one day a week opens within this, even across a year of holidays


@dataclass(frozen=True)
class SendWindow:
    """Working days (0 = Monday) and the local hours [start, end) in which scheduled mail may leave."""

    days: frozenset[int]
    start: time
    end: time | None  # None: until midnight (written 24:00)
    holiday_country: str = ""

    def text(self) -> str:
        """The window as a person writes it (what the settings show and store)."""
        return f"{_days_text(self.days)} {self.start:%H:%M}-{'24:00' if self.end is None else f'{self.end:%H:%M}'}"

    def is_open(self, moment: datetime, zone: ZoneInfo) -> bool:
        """Whether scheduled mail may leave at `moment` (aware), judged on the organisation's local clock."""
        local = moment.astimezone(zone)
        if local.weekday() not in self.days or self._holiday(local.date()):
            return False
        clock = local.time().replace(tzinfo=None)
        return self.start <= clock and (self.end is None or clock < self.end)

    def next_opening(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """`moment` when the window is open, else the next time it opens (aware, UTC)."""
        if self.is_open(moment, zone):
            return moment.astimezone(UTC)
        local = moment.astimezone(zone).replace(tzinfo=None)
        first = datetime.combine(local.date(), self.start)
        openings = rrule(
            DAILY,
            dtstart=first,
            until=first + timedelta(days=_LOOKAHEAD_DAYS),
            byweekday=[weekday(day) for day in sorted(self.days)],
        )
        opening: datetime
        for opening in openings:
            if opening > local and not self._holiday(opening.date()):
                return opening.replace(tzinfo=zone).astimezone(UTC)
        raise InvalidInput(f"the send window {self.text()} never opens in the coming year (holidays?)")

    def _holiday(self, day: date) -> bool:
        return bool(self.holiday_country) and day in _holidays_of(self.holiday_country, day.year)


@cache
def _holidays_of(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def parse_send_window(text: str | None, *, holiday_country: str = "") -> SendWindow:
    """A send window from a person's words; `InvalidInput` says what is wrong and changes nothing."""
    raw = " ".join((text or "").split()) or DEFAULT_SEND_WINDOW
    if len(raw) > MAX_SEND_WINDOW:
        raise InvalidInput(f"a send window is at most {MAX_SEND_WINDOW} characters, like {DEFAULT_SEND_WINDOW}")
    shape = _SHAPE.match(raw)
    if shape is None:
        raise InvalidInput(f"{raw!r} is not a send window: write days and hours, like {DEFAULT_SEND_WINDOW}")
    start = _clock(shape["start"], raw)
    end = None if shape["end"] == "24:00" else _clock(shape["end"], raw)
    if start is None or (end is not None and end <= start):
        raise InvalidInput(f"in {raw!r} the hours must run forwards within one day, like 09:00-17:00")
    days = _parse_days(shape["days"], raw)
    return SendWindow(days=days, start=start, end=end, holiday_country=check_holiday_country(holiday_country))


def check_holiday_country(value: str | None) -> str:
    """A country whose public holidays close the window (ISO 3166 alpha-2, like BE), or "" for none."""
    code = (value or "").strip().upper()
    if code and code not in holidays.list_supported_countries():
        raise InvalidInput(f"{code!r} is not a country whose holidays are known (ISO 3166 code, like BE or GB)")
    return code


def check_preview_lead(value: str | int | None) -> int:
    """Minutes before the window opens that its preview is posted: a whole number, 0 (as it is queued) to a day."""
    try:
        minutes = int(str(value if value is not None else "").strip() or "0")
    except ValueError:
        raise InvalidInput(f"{value!r} is not a whole number of minutes (0: as soon as mail is queued)") from None
    if not 0 <= minutes <= MAX_PREVIEW_LEAD:
        raise InvalidInput(f"the preview lead is between 0 and {MAX_PREVIEW_LEAD} minutes (a day)")
    return minutes


def _clock(text: str, raw: str) -> time | None:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return None
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise InvalidInput(f"{text!r} in {raw!r} is not a time of day (00:00 to 24:00)")
    return time(hours, minutes)


def _parse_days(text: str, raw: str) -> frozenset[int]:
    words = text.strip().lower()
    if words in ("every day", "daily", "all days"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in (piece.strip() for piece in words.split(",")):
        ends = [_day(end.strip(), raw) for end in part.split("-")]
        if len(ends) == 1:
            days.add(ends[0])
        elif len(ends) == 2:
            first, last = ends
            days.update(range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)])
        else:
            raise InvalidInput(f"{part!r} in {raw!r} is not a day or a range of days, like Mon-Fri")
    return frozenset(days)


def _day(word: str, raw: str) -> int:
    key = word[:3]
    if len(word) < 3 or key not in _DAYS or not WEEKDAYS[_DAYS.index(key)].startswith(word):
        raise InvalidInput(f"{word!r} in {raw!r} is not a day of the week (Mon, Tue, … Sun)")
    return _DAYS.index(key)


def _days_text(days: frozenset[int]) -> str:
    """Days as a person writes them: ranges where consecutive (Mon-Fri), commas otherwise."""
    if days == frozenset(range(7)):
        return "every day"
    names = [name.title() for name in _DAYS]
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(names[run[0]] if len(run) == 1 else f"{names[run[0]]}-{names[run[-1]]}" for run in runs)
