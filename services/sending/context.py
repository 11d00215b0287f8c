"""What every send needs besides the request: built once in bot/ at startup, passed whole.

Before it, the approval rules, the Message-ID domain, the VERP secret and the clock were
passed by hand, argument by argument, through handlers, use cases and services; now every
service that sends takes `send: SendContext` (services.sending.requests, bulk, approvals,
services.tracking.alert_actions) and reads the clock once. It lives in sending, which
tracking may import (only the worker pipeline is off limits to it). The sending state (is SMTP
configured, is sending paused) belongs to the organisation of the request and travels
with it (`handlers.context.Workplace.sending`), so a use case takes both.
The VERP secret is a callable so it is read when a send is asked for, and never shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.authorization import ApprovalRules
from services.db.models import utcnow
from services.sending.readiness import SendingState


@dataclass(frozen=True)
class SendContext:
    rules: ApprovalRules
    message_id_domain: str
    verp_secret: Callable[[], bytes] = field(repr=False)
    clock: Callable[[], datetime] = utcnow

    def at(self, now: datetime) -> SendContext:
        """This context with its clock stopped at `now`: one moment for every step of one use case
        (a bulk send asks for each invoice at the same `now`, as one request would)."""
        return replace(self, clock=lambda: now)


@dataclass(frozen=True, kw_only=True)
class ScheduledAsk:
    """What a scheduled round (autosend, reminders) needs from the process: how to send for this
    organisation, its clock stopped at the round's moment, and whether it may send now."""

    organisation_id: int
    send: SendContext  # the organisation's rules; its clock is the round's moment
    sending: SendingState
    public_url: str
