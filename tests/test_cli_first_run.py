"""A first run that explains itself: one line saying what to do, never a traceback or a warning."""

import asyncio

from services.db.migrate import head_revision, upgrade
from tests.harness.slack import SIGNING_SECRET


def fresh(tmp_path):
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def test_commands_on_a_fresh_database_say_to_run_db_upgrade_in_one_line(run, tmp_path):
    for command in (("seed",), ("invoices", "due"), ("invoices", "show", "X-1"), ("suppressions", "list")):
        result = run(*command, database=fresh(tmp_path))

        assert result.returncode == 1, command
        assert result.stderr == "error: the database is not initialised: run `invoicebot db upgrade` first\n"


def test_db_upgrade_says_it_created_the_schema_then_that_there_is_nothing_to_do(run, tmp_path):
    created = run("db", "upgrade", database=fresh(tmp_path))
    again = run("db", "upgrade", database=fresh(tmp_path))

    assert (created.returncode, created.stdout) == (0, f"database: created the schema (head {head_revision()})\n")
    assert (again.returncode, again.stdout) == (0, f"database: nothing to do (at {head_revision()})\n")
    assert created.stderr == again.stderr == ""
    assert run("seed", database=fresh(tmp_path)).returncode == 0


def test_a_database_one_migration_behind_is_named_and_upgraded_from_to(run, tmp_path):
    upgrade(fresh(tmp_path), "0013_postal")

    behind = run("invoices", "due", database=fresh(tmp_path))
    upgraded = run("db", "upgrade", database=fresh(tmp_path))

    assert behind.returncode == 1
    assert behind.stderr == (
        f"error: the database is at revision 0013_postal, this version needs {head_revision()}: "
        "run `invoicebot db upgrade`\n"
    )
    assert upgraded.stdout == f"database: upgraded from 0013_postal to {head_revision()}\n"


def test_an_unreachable_database_is_one_line(run, tmp_path):
    result = run("seed", database=f"sqlite:///{tmp_path / 'missing' / 'x.db'}")

    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot open the database: the folder ")
    assert result.stderr.count("\n") == 1


def test_run_without_tokens_says_so_in_one_line_and_nothing_else(run):
    result = run("run")

    assert result.returncode == 2
    assert result.stderr == (
        "error: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (see README, 'Slack set-up') to run the Slack app\n"
    )


def test_run_and_worker_refuse_a_fresh_database_unless_auto_migrate_is_on(run, tmp_path):
    tokens = {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    refused = run("run", database=fresh(tmp_path), settings=tokens)
    worker = {"INVOICEBOT_SMTP_HOST": "127.0.0.1", "INVOICEBOT_RENDER_PROCESSES": "0"}

    migrated = run(
        "worker", "--until-idle", database=fresh(tmp_path), settings={**worker, "INVOICEBOT_AUTO_MIGRATE": "1"}
    )

    assert refused.returncode == 1
    assert "the database is not initialised: run `invoicebot db upgrade` first" in refused.stderr
    assert migrated.returncode == 0, migrated.stderr
    assert f"INVOICEBOT_AUTO_MIGRATE: created the schema (head {head_revision()})" in migrated.stderr
    assert migrated.stdout == "handled 0 deliveries\n"
    assert "Traceback" not in migrated.stderr and "never awaited" not in migrated.stderr


async def test_run_with_a_token_slack_refuses_stops_with_one_line_and_warns_about_the_channel(run, fake_slack):
    settings = {
        "SLACK_BOT_TOKEN": "xoxb-wrong",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "INVOICEBOT_SLACK_API_URL": fake_slack.base_url,
        "INVOICEBOT_HTTP_PORT": "0",
    }

    result = await asyncio.to_thread(run, "run", settings=settings)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "error: Slack refused SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth Token again"
    assert any("INVOICEBOT_NOTIFY_CHANNEL is not set" in line for line in lines)
    assert "Traceback" not in result.stderr and "never awaited" not in result.stderr
    assert [call.method for call in fake_slack.calls] == ["auth.test"]
