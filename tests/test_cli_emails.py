"""`invoicebot emails purge`, the real console script against the test database (the purge itself:
tests/integration/test_sent_messages.py)."""

from __future__ import annotations

from typing import Any


def test_purge_reports_what_it_deleted_and_the_retention_it_applied(run: Any) -> None:
    assert run("db", "upgrade").returncode == 0

    purged = run("emails", "purge", "--as-of", "2030-01-31")
    forever = run("emails", "purge", settings={"INVOICEBOT_SENT_EMAIL_RETENTION_DAYS": "0"})
    wrong = run("emails", "purge", settings={"INVOICEBOT_SENT_EMAIL_RETENTION_DAYS": "-1"})

    assert purged.returncode == 0, purged.stderr
    assert "emails as sent (kept 400 days): 0 deleted, 0 unused blobs deleted, 0 extra attachments" in purged.stdout
    assert forever.returncode == 0, forever.stderr
    assert "(kept forever)" in forever.stdout
    assert wrong.returncode == 2
    assert "SENT_EMAIL_RETENTION_DAYS" in wrong.stderr
