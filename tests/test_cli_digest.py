"""`invoicebot digest run --as-of`, run as the real console script: the digest owed at that moment, once."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db.models import Notification, OrganisationSettingsRow
from services.notifications import NotificationKind

DIGEST_AT_NINE_IN_BRUSSELS = {"INVOICEBOT_TIMEZONE": "Europe/Brussels", "INVOICEBOT_DIGEST_HOUR": "9"}


async def test_digest_run_as_of_owes_the_day_once_from_its_hour_in_the_seeded_time_zone(
    run, sessions: async_sessionmaker[AsyncSession]
):
    assert run("seed", "--today", "2026-11-23", settings=DIGEST_AT_NINE_IN_BRUSSELS).returncode == 0

    early = run("digest", "run", "--as-of", "2026-11-23T07:59:00Z", settings=DIGEST_AT_NINE_IN_BRUSSELS)
    assert (early.returncode, early.stdout.strip()) == (
        0,
        "no digest due at 2026-11-23T07:59:00+00:00 (off, not its hour yet, or already posted)",
    )
    on_time = run("digest", "run", "--as-of", "2026-11-23T09:00:00+01:00", settings=DIGEST_AT_NINE_IN_BRUSSELS)
    assert on_time.returncode == 0, on_time.stderr
    assert on_time.stdout.strip().endswith("digest of 2026-11-23 queued for Slack with the weekly summary")  # a Monday
    again = run("digest", "run", "--as-of", "2026-11-23T12:00:00", settings=DIGEST_AT_NINE_IN_BRUSSELS)
    assert again.stdout.startswith("no digest due")

    async with sessions() as session:
        row = (await session.execute(select(OrganisationSettingsRow))).scalar_one()
        assert (row.time_zone, row.digest_hour, row.weekly_summary_day) == ("Europe/Brussels", 9, 0)
        [digest] = (
            await session.execute(select(Notification).where(Notification.kind == NotificationKind.DIGEST))
        ).scalars()
    assert digest.payload["day"] == "2026-11-23" and digest.payload["to_send"] > 0


def test_a_wrong_moment_or_time_zone_is_refused_with_a_sentence(run):
    bad = run("digest", "run", "--as-of", "tomorrow")
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "error: --as-of 'tomorrow' is not a date and time like 2026-12-04T09:30 (UTC) or …+01:00",
    )
    for command in (("alerts", "silent"), ("emails", "purge")):  # one rule for every --as-of
        refused = run(*command, "--as-of", "tomorrow")
        assert (refused.returncode, refused.stderr.strip()) == (2, bad.stderr.strip())
    zone = run("seed", settings={"INVOICEBOT_TIMEZONE": "Mars/Olympus"})
    assert zone.returncode != 0
    assert "INVOICEBOT_TIMEZONE" in zone.stderr and "is not a time zone name" in zone.stderr
