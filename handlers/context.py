"""What the app's middleware puts into every listener's context (Bolt injects it by name).

Listeners receive factories, not an open session: Bolt runs a listener in a background
task after the ack, so a session opened and closed by middleware would be closed under
the listener's feet. `sessions` opens a session for reads (listings, a modal's content);
`units` is what a listener hands to a use case (services.use_cases), which opens its own
unit of work and commits or rolls it back. A listener never commits.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.sending.readiness import SendingState
from services.unit_of_work import UnitsOfWork

# The services' AsyncSession. Handlers never import SQLAlchemy (an import-linter contract):
# they only pass the session from the factory to a service function.
Session = Any
SessionFactory = Callable[[], AbstractAsyncContextManager[Session]]

__all__ = ["Session", "SessionFactory", "UnitsOfWork", "Workplace"]


@dataclass(frozen=True)
class Workplace:
    """The organisation a request acts for, and what a listener needs around it."""

    organisation_id: int
    sending: SendingState
    today: date
    locale: str  # the team's: how Slack writes amounts and dates (services.invoicing.organisations.organisation_locale)
