"""Commands that build the Bolt app print nothing of Bolt's own: with SLACK_BOT_TOKEN in the
environment, Bolt used to log "As you gave `client` as well, `token` will be unused"."""

import asyncio

from tests.harness.slack import BOT_TOKEN, CHANNEL, SIGNING_SECRET

BOLT_WARNING = "will be unused"


def slack_env(fake_slack, **extra):
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "INVOICEBOT_SLACK_API_URL": fake_slack.base_url,
        "INVOICEBOT_NOTIFY_CHANNEL": CHANNEL,
        **extra,
    }


async def test_smtp_verify_and_health_list_print_no_bolt_warning(run, fake_slack, smtp):
    settings = slack_env(
        fake_slack,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_SMTP_PORT=str(smtp.port),
        INVOICEBOT_SMTP_SECURITY="none",
        INVOICEBOT_SENDER_EMAIL="invoices@example.com",
    )

    verified = await asyncio.to_thread(run, "smtp", "verify", settings=settings)
    listed = await asyncio.to_thread(run, "health", "list", settings=settings)

    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == "SMTP settings verified: connected (no login: no username set)\n"
    assert BOLT_WARNING not in verified.stderr
    assert listed.returncode == 0, listed.stderr
    assert "Loops reported by other processes — 0" in listed.stdout
    assert BOLT_WARNING not in listed.stdout + listed.stderr


async def test_run_builds_the_bolt_app_without_its_warning(run, fake_slack):
    settings = slack_env(fake_slack, SLACK_BOT_TOKEN="xoxb-wrong", INVOICEBOT_HTTP_PORT="0")

    result = await asyncio.to_thread(run, "run", settings=settings)

    assert result.returncode == 2
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in result.stderr
    assert BOLT_WARNING not in result.stderr
