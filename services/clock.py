"""The one way to read the wall clock: timezone-aware UTC.

A leaf module (no database, no third-party imports) so that pure code — message building,
webhook parsers — can read the time without loading SQLAlchemy; services.db.models
re-exports it for the many callers that already import it from there.
"""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
