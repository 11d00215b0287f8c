"""The filter grammar of `/invoices sent`, read into a `SentFilter` (pure: no database).

    /invoices sent [CUSTOMER] [STATUS …] [since YYYY-MM-DD] [until YYYY-MM-DD] [last N days]

Words are read left to right, in any order: a status word (bounced, unknown, delivered,
viewed, accepted …, several allowed: any of them), a period (`since DATE`, `until DATE`,
`last N days`, `today`), and the remaining words, together, name the customer (its
reference, or a fragment of its name; case and accents ignored). A period word without a
good value is refused with a sentence naming it; a customer that matches nobody is refused
by the listing (services.tracking.status.list_sent_page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.db.models import DeliveryStatus
from services.errors import InvalidInput

MAX_FILTER_TEXT = 200
MAX_DAYS = 3660

# The words a person may use for an email's status → the statuses they mean.
STATUS_WORDS: dict[str, frozenset[DeliveryStatus]] = {
    **{status.value: frozenset({status}) for status in DeliveryStatus},
    "viewed": frozenset({DeliveryStatus.OPENED}),
    "read": frozenset({DeliveryStatus.OPENED}),
    "spam": frozenset({DeliveryStatus.COMPLAINED}),
    "waiting": frozenset({DeliveryStatus.AWAITING_APPROVAL}),
    "approval": frozenset({DeliveryStatus.AWAITING_APPROVAL}),
    "retrying": frozenset({DeliveryStatus.DEFERRED}),
}
PERIOD_HELP = "since YYYY-MM-DD, until YYYY-MM-DD, last N days or today"
GRAMMAR = f"`/invoices sent [customer] [status …] [{PERIOD_HELP}]`"


@dataclass(frozen=True)
class SentFilter:
    """Which invoice emails `/invoices sent` lists; every part optional (empty: all of them)."""

    customer: str | None = None
    statuses: frozenset[DeliveryStatus] = frozenset()
    since: date | None = None  # sent on or after this day (UTC)
    until: date | None = None  # sent on or before this day (UTC)

    @property
    def narrowed(self) -> bool:
        return bool(self.customer or self.statuses or self.since or self.until)


def _day(word: str | None, after: str) -> date:
    try:
        if word is None:
            raise ValueError
        return date.fromisoformat(word)
    except ValueError:
        got = f" (got “{word}”)" if word else ""
        raise InvalidInput(f"I did not understand “{after}”: it needs a date like 2026-11-01{got}.") from None


def _last_days(words: list[str], index: int) -> int:
    count, unit = [*words[index + 1 : index + 3], "", ""][:2]
    if not (count.isascii() and count.isdigit() and 0 < int(count) <= MAX_DAYS and unit.lower() in ("day", "days")):
        shown = " ".join(w for w in ("last", count, unit) if w)
        raise InvalidInput(f"I did not understand “{shown}”: write it like “last 30 days”.")
    return int(count)


def parse_sent_filter(text: str, *, today: date) -> SentFilter:
    """`text` (after `sent`) → SentFilter; InvalidInput with a sentence naming what was not understood."""
    if len(text) > MAX_FILTER_TEXT:
        raise InvalidInput(f"That filter is too long (at most {MAX_FILTER_TEXT} characters).")
    words = text.split()
    customer: list[str] = []
    statuses: set[DeliveryStatus] = set()
    since = until = None
    index = 0
    while index < len(words):
        word = words[index].lower().strip(",")
        if word in STATUS_WORDS:
            statuses |= STATUS_WORDS[word]
        elif word == "since":
            since = _day(words[index + 1] if index + 1 < len(words) else None, word)
            index += 1
        elif word == "until":
            until = _day(words[index + 1] if index + 1 < len(words) else None, word)
            index += 1
        elif word == "last":
            since = today - timedelta(days=_last_days(words, index))
            index += 2
        elif word == "today":
            since = today
        else:
            customer.append(words[index])
        index += 1
    if since is not None and until is not None and since > until:
        raise InvalidInput(f"I did not understand the period: {since.isoformat()} is after {until.isoformat()}.")
    return SentFilter(" ".join(customer) or None, frozenset(statuses), since, until)
