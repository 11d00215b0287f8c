"""`invoicebot reminders plan|run --as-of`, run as the real console script against the test database."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.db.models import Organisation
from tests import factories
from tests.services.reminders.ledger import sent_invoice, stored_reminders


async def test_plan_prints_what_would_go_out_and_what_is_skipped_and_run_produces_it_once(
    run, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    globex = await factories.customer(session, org.id, ref="GLOBEX", name="Globex")
    await sent_invoice(session, org.id, acme, "INV-1", date(2026, 12, 1))
    await sent_invoice(session, org.id, acme, "INV-2", date(2026, 12, 2), amount="50.00")
    await sent_invoice(session, org.id, globex, "INV-3", date(2026, 10, 20))

    plan = run("reminders", "plan", "--as-of", "2026-12-09T08:00:00Z")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines() == [
        "1 reminder would go out on 2026-12-09:",
        "  Acme Corp — step +7 days, neutral — catch-up: the step was reached 1 day ago",
        "      INV-1 120.00 EUR (8 days overdue)",
        "      INV-2 60.00 EUR (7 days overdue)",
        "1 skipped (missed by too much after an outage, not sent late):",
        "  Globex — step +30 days, firm — skipped: the step was missed by 20 days, more than the 7 allowed; "
        "not sent late",
        "      INV-3 120.00 EUR (50 days overdue)",
    ]
    assert await stored_reminders(session) == []  # plan writes nothing

    first = run("reminders", "run", "--as-of", "2026-12-09T08:00:00Z")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "1 reminder queued and 1 skipped on 2026-12-09, for 3 invoices",
        "1 of them catch up on a step reached while nothing ran",
        f"organisation {org.id}: outside the send window; it opens next at 2026-12-09T09:00:00+00:00",
    ]
    again = run("reminders", "run", "--as-of", "2026-12-09T15:00:00Z", settings={"INVOICEBOT_SMTP_HOST": "127.0.0.1"})
    assert again.stdout.splitlines() == [
        "no reminder to produce on 2026-12-09 (none due, or already produced)",
        f"organisation {org.id}: queued the reminder to Acme Corp step +7 days (INV-1, INV-2)",
    ]
    smtp = {"INVOICEBOT_SMTP_HOST": "127.0.0.1"}
    assert run("reminders", "run", "--as-of", "2026-12-09T15:01:00Z", settings=smtp).stdout.splitlines()[-1] == (
        f"organisation {org.id}: no reminder to send"
    )
    unsent = run("reminders", "run", "--as-of", "2026-12-09T15:01:00Z")  # no SMTP server set
    assert unsent.stdout.splitlines()[-1] == (
        f"organisation {org.id}: no reminder sent — sending is not configured (no SMTP server is set)"
    )
    assert [(row[1], row[2], len(row[3])) for row in await stored_reminders(session)] == [
        (7, "sent", 2),  # its email was queued: the reminder is no longer owed
        (30, "skipped", 1),
    ]


def test_a_wrong_moment_or_lateness_setting_is_refused_with_a_sentence(run):
    bad = run("reminders", "run", "--as-of", "next week")
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "error: --as-of 'next week' is not a date and time like 2026-12-04T09:30 (UTC) or …+01:00",
    )
    lateness = run("reminders", "plan", settings={"INVOICEBOT_REMINDER_MAX_LATENESS_DAYS": "-1"})
    assert lateness.returncode != 0 and "INVOICEBOT_REMINDER_MAX_LATENESS_DAYS" in lateness.stderr
