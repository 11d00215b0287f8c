"""Typed domain errors. Each message is written for a finance person, not a developer.

The edges (Slack, CLI, HTTP) show `str(error)` as it is, so keep it a full sentence.
"""


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
