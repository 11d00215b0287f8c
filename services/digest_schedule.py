"""When the daily digest is owed: the pure rule, from the organisation's time zone and hour.

A day's digest is due from its hour in the organisation's time zone (`slot_at`). Evaluated at
`now`, the digest owed is the latest slot that has come — but only one: after an outage of
several days the schedule posts the latest missed day once, saying it is late and how many
days were missed, never one post per day. Before an organisation's first digest nothing is
owed until today's hour (enabling it at noon does not post yesterday's). The weekly summary
rides on the digest of its day (or on a catch-up whose missed days include it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DIGEST_KIND = "daily_digest"  # the once-per-period kind (services.once_per_period); periods are ISO dates
LATE_AFTER = timedelta(hours=1)  # a digest posted later than this after its hour says it is late
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class DigestSchedule:
    zone: ZoneInfo
    hour: int
    weekly_day: int  # 0 = Monday


@dataclass(frozen=True)
class DigestSlot:
    """The digest owed at `now`: its day, when it was due, and what the post says about lateness."""

    day: date
    due_at: datetime  # the hour on that day, in the organisation's zone
    since: datetime  # sent and paid are counted from here (the previous digest's hour)
    late: bool  # posted more than LATE_AFTER after its hour, or after missed days (never the first digest)
    missed_days: int  # days before `day` whose digest never went out
    weekly: bool  # include the weekly summary

    @property
    def period(self) -> str:
        return self.day.isoformat()


def slot_at(schedule: DigestSchedule, day: date) -> datetime:
    return datetime.combine(day, time(schedule.hour), tzinfo=schedule.zone)


def latest_due_day(schedule: DigestSchedule, now: datetime) -> date:
    """The last day whose digest hour has come at `now` (today once the hour is reached, else yesterday)."""
    local = now.astimezone(schedule.zone)
    today = local.date()
    return today if local >= slot_at(schedule, today) else today - timedelta(days=1)


def owed_slot(schedule: DigestSchedule, now: datetime, *, last_period: str | None) -> DigestSlot | None:
    """The one digest owed at `now` given the last one claimed (an ISO date, or None), else None."""
    day = latest_due_day(schedule, now)
    local_today = now.astimezone(schedule.zone).date()
    last = date.fromisoformat(last_period) if last_period else None
    if last is None and day != local_today:
        return None  # never posted: the first digest is today's, at its hour
    if last is not None and day <= last:
        return None
    missed = 0 if last is None else (day - last).days - 1
    due_at = slot_at(schedule, day)
    covered = [day] if last is None else [last + timedelta(days=n) for n in range(1, (day - last).days + 1)]
    return DigestSlot(
        day=day,
        due_at=due_at,
        since=slot_at(schedule, last) if last is not None else due_at - timedelta(days=1),
        late=last is not None and (missed > 0 or now - due_at > LATE_AFTER),  # the first one is never late
        missed_days=missed,
        weekly=any(covered_day.weekday() == schedule.weekly_day for covered_day in covered),
    )
