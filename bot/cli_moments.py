"""`--as-of`: the one rule for the moment a command evaluates its schedule at.

Operators and tests use it to move time (`invoicebot alerts silent`, `digest run`, `emails purge`):
an ISO date or date-time, UTC when it names no offset, now when absent. A value that is not one
is refused with a sentence and exit status 2, before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import typer

from services.clock import utcnow

AS_OF_HELP = "evaluate at this moment instead of now: ISO, like 2026-12-04T09:30 (UTC) or 2026-12-04T09:30+01:00"


def as_of_moment(value: str | None, fail: Callable[[str, int], typer.Exit]) -> datetime:
    """`--as-of`'s moment, aware and in UTC (naive: UTC); now when absent; `fail` when not ISO."""
    if not value or not value.strip():
        return utcnow()
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"--as-of {value!r} is not a date and time like 2026-12-04T09:30 (UTC) or …+01:00", 2) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
