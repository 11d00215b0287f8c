"""How delivery events move a recipient's state and the delivery's status (pure functions).

Per recipient (kept in `Delivery.recipient_results[address]["status"]`):

| the recipient is …              | a new event …                                   | becomes            |
|---------------------------------|-------------------------------------------------|--------------------|
| anything not terminal-bad       | hard bounce, complaint, drop, permanent failure | that (terminal-bad)|
| terminal-bad                    | anything, a later `delivered` included          | unchanged          |
| accepted (or nothing known)     | soft bounce or deferred                         | deferred           |
| delivered / opened              | soft bounce or deferred                         | unchanged          |
| accepted / deferred             | delivered                                       | delivered          |
| accepted / delivered            | opened or viewed                                | opened             |
| deferred                        | opened or viewed                                | unchanged          |

"Terminal-bad" is bounced (hard), complained, dropped and failed. `accepted` (relayed)
never moves a recipient back. `unknown` and anything else lands on the timeline only.

The delivery's status is the worst-relevant state over its recipients: any terminal-bad
recipient makes the delivery that (bounced > failed > dropped > complained when several);
otherwise the best state any recipient reached (one opened of two → opened), since a
positive state is evidence the email arrived. So one bounced of two → bounced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.db.models import DeliveryStatus
from services.tracking.dsn import reason_for_status, status_code

TERMINAL_BAD = ("bounced", "failed", "dropped", "complained")  # in the order the delivery shows them
_POSITIVE_RANK = {"accepted": 1, "deferred": 2, "delivered": 3, "opened": 4}
# Events whose recipient needs a person: a notification with the reason in plain words.
ALERT_TYPES = frozenset({"bounced", "dropped", "complained", "failed"})
# Delivery statuses an event may change: the email was handed over (or may have been).
FOLLOWED_STATUSES = frozenset(
    {
        DeliveryStatus.ACCEPTED,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.OPENED,
        DeliveryStatus.DEFERRED,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.DROPPED,
        DeliveryStatus.COMPLAINED,
        DeliveryStatus.FAILED,
        DeliveryStatus.UNKNOWN,
    }
)


def recipient_state_for(event_type: str, bounce_kind: str | None) -> str | None:
    """The recipient state an event claims, or None when it only belongs on the timeline."""
    if event_type == "bounced":
        return "deferred" if bounce_kind == "soft" else "bounced"
    if event_type in ("dropped", "complained", "failed", "delivered", "deferred", "accepted"):
        return event_type
    if event_type in ("opened", "viewed"):
        return "opened"
    return None


def next_recipient_state(current: str | None, claimed: str | None) -> str | None:
    """The recipient's state after an event claiming `claimed` (see the table above)."""
    if claimed is None:
        return current
    if current in TERMINAL_BAD:
        return current
    if claimed in TERMINAL_BAD:
        return claimed
    if claimed == "opened":
        return "opened" if current in (None, "accepted", "delivered", "opened") else current
    if claimed == "accepted":
        return current or "accepted"
    if current is None:
        return claimed
    return claimed if _POSITIVE_RANK[claimed] > _POSITIVE_RANK.get(current, 0) else current


def delivery_status_from(states: Iterable[str | None]) -> str | None:
    """The delivery's status from its recipients' states, or None when none is known."""
    known = [state for state in states if state]
    for bad in TERMINAL_BAD:
        if bad in known:
            return bad
    ranked = [state for state in known if state in _POSITIVE_RANK]
    return max(ranked, key=_POSITIVE_RANK.__getitem__) if ranked else None


def delivery_status_after(current: str, states: Iterable[str | None]) -> str | None:
    """The status a followed delivery now `current` takes from its recipients' `states`.

    A terminal-bad status (an SMTP failure) counts as one more state, so it stays whatever
    its recipients say later, unless a worse one comes (bounced > failed > dropped > complained).
    """
    known = [*states, current] if current in TERMINAL_BAD else list(states)
    return delivery_status_from(known)


_TYPE_WORDS = {
    "complained": "the recipient marked the email as spam",
    "dropped": "the email provider did not send it (the address is invalid or on its suppression list)",
    "failed": "the receiving server refused the email",
    "unknown": "the connection broke after the email was handed over; check before resending",
}
# Basic SMTP replies (RFC 5321) with no enhanced status code, in plain words.
_BASIC_REPLY = re.compile(r"\b[45]\d\d\b")
_BASIC_WORDS = {
    "550": "the mailbox is unavailable",
    "551": "the user is not local",
    "552": "the mailbox is full or the email too large",
    "553": "the address is not allowed",
    "554": "the receiving server refused the email",
}
_TEMPORARY = "a temporary problem at the receiving server"
HELD_PREFIX = "held: "  # how a held delivery's last error begins (Slack shows it as a hold, not a refusal)
HELD_IN_WORDS = "not sent: its e-invoice (UBL) did not pass its checks"


def reason_in_words(event_type: str, reply: str | None) -> str:
    """The one plain-words reason for a recipient's problem, wherever it is shown.

    `reply` is an RFC 3463 status code (`5.1.1`) or whatever the server or provider said
    (`550 5.1.1 No such user`, a DSN's Diagnostic-Code): its enhanced status code decides
    (services.tracking.dsn's table), else its basic reply code, else the event type. Alerts, status
    messages, the *Fix address & resend* modal and the invoice's state all read this, so
    an SMTP refusal and a bounce of the same kind say the same words.
    """
    if (reply or "").startswith(HELD_PREFIX):  # held before sending: no server was involved
        return HELD_IN_WORDS
    code = status_code(reply)
    if code is not None:
        return reason_for_status(code)
    basic = _BASIC_REPLY.search(reply or "")
    if basic is not None:
        return _BASIC_WORDS.get(basic.group(0), _TEMPORARY if basic.group(0)[0] == "4" else _TYPE_WORDS["failed"])
    return _TYPE_WORDS.get(event_type, "the email was returned undelivered")
