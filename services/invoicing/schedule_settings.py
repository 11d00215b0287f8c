"""The organisation's settings about *when*: its time zone, the hours and days of what runs on a
schedule (the daily digest, the weekly summary) and the silent-email alert's hours.

Kept beside `services/invoicing/settings.py` (which checks every field with these rules) so
that module stays small; the one rule for the organisation's time zone is `check_time_zone` (when
stored), `zone_named` (when read) and `local_date` (its "today").
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.errors import InvalidInput

MAX_SILENT_HOURS = 24 * 30


def silent_hours(text: str | int) -> int:
    """Hours without news before the silent-email alert: a whole number from 0 (off) to 720 (30 days)."""
    try:
        hours = int(str(text).strip() or "0")
    except ValueError:
        raise InvalidInput(f"{text!r} is not a whole number of hours (0 turns the alert off)") from None
    if not 0 <= hours <= MAX_SILENT_HOURS:
        raise InvalidInput(f"hours must be between 0 (off) and {MAX_SILENT_HOURS}")
    return hours


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def check_time_zone(value: str) -> str:
    """An IANA time zone name known to zoneinfo (like Europe/Brussels); the one rule for the org's zone."""
    text = (value or "").strip() or "UTC"
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{text!r} is not a time zone name (IANA, like Europe/Brussels or UTC)") from None
    return text


def zone_named(name: str | None) -> ZoneInfo:
    """The organisation's stored time zone name as zoneinfo reads it (checked when stored by
    `check_time_zone`); none stored is UTC (the setting's default). The digest and the day below use it."""
    return ZoneInfo(name or "UTC")


def local_date(zone_name: str | None, now: datetime) -> date:
    """The organisation's "today" at `now` (aware): the date its people see on their calendar,
    which what is due and how overdue it is are counted against (App Home, `/invoices due`)."""
    return now.astimezone(zone_named(zone_name)).date()


def hour_or_off(value: str | int | None) -> int | None:
    """An hour of the day (0 to 23), or None for "off" (or empty)."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "off", "none"):
        return None
    if not text.isdigit() or not 0 <= int(text) <= 23:
        raise InvalidInput(f"{text!r} is not an hour (0 to 23, or off)")
    return int(text)


def weekday_number(value: str | int) -> int:
    """0 (Monday) to 6 from a number or a day's name (at least its first three letters)."""
    text = str(value).strip().lower()
    if text.isdigit() and 0 <= int(text) < len(WEEKDAYS):
        return int(text)
    for index, name in enumerate(WEEKDAYS):
        if text and name.startswith(text) and len(text) >= 3:
            return index
    raise InvalidInput(f"{value!r} is not a day of the week (like monday)")
