"""Typed domain errors. Each message is written for a finance person, not a developer.

The edges (Slack, CLI, HTTP) show `str(error)` as it is, so keep it a full sentence.
An unexpected error is logged one way for every surface (`log_unexpected`: one line and a
reference the user can quote), so the Slack handlers and the web endpoints share it here.
"""

from __future__ import annotations

import logging
import secrets
import traceback

log = logging.getLogger("invoicebot.errors")


class DomainError(Exception):
    """Base of every error a user can cause and read."""


class NotFound(DomainError):
    """The thing asked for does not exist (in this organisation)."""


class IllegalTransition(DomainError):
    """A state change its rules forbid, e.g. validating a sent invoice."""


class InvalidInput(DomainError):
    """A value that cannot be accepted; the message says which and why."""


class ImportRejected(DomainError):
    """A file with bad rows: nothing was imported.

    `problems` lists the first ones ("line N: reason"); `total` counts them all, so a file
    with 50,000 bad cells is summarised instead of printed whole.
    """

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        super().__init__(f"{self.total:,} problem(s) found; nothing was imported")

    @property
    def not_shown(self) -> int:
        return self.total - len(self.problems)


class NotAllowed(DomainError):
    """The person may not do this (not an approver, approving their own request, …)."""


class FieldErrors(InvalidInput):
    """Several fields are wrong at once; `errors` maps a field name to its message.

    The Slack surface shows them as inline modal errors, the CLI as lines.
    """

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


class NeedsConfirmation(DomainError):
    """The action is allowed but risky (e.g. the invoice was sent minutes ago); ask first."""


def error_summary(exc: BaseException) -> str:
    """An unexpected error in one line for a log, a health reason or a delivery's last error: the
    driver's own words when there are some ("database is locked"), never SQLAlchemy's statement
    and parameters (long, and they may hold customer data)."""
    original = getattr(exc, "orig", None)
    lines = str(original if original is not None else exc).strip().splitlines()
    return lines[0][:300] if lines and lines[0].strip() else type(exc).__name__


def loggable(text: object, limit: int = 300) -> str:
    """`text` for one log line: control characters escaped (no forged lines), cut at `limit`."""
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text)[:limit])
    return shown + ("…" if len(str(text)) > limit else "")


def log_unexpected(error: BaseException, **where: object) -> str:
    """Log one line about an unexpected error and return its reference (what the user quotes).

    One line, not a traceback: the error's type, its innermost frame and its message
    (escaped), plus `where` (path, method…). The traceback goes to DEBUG for a developer.
    """
    reference = secrets.token_hex(4)
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    at = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else "?"
    fields = " ".join(f"{key}={loggable(value, 120)!s}" for key, value in where.items())
    log.error(
        "unexpected error ref=%s type=%s at=%s %s message=%s",
        reference,
        type(error).__name__,
        at,
        fields,
        loggable(error),
    )
    log.debug("traceback of error ref=%s", reference, exc_info=(type(error), error, error.__traceback__))
    return reference
