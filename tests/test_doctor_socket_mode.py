"""Socket Mode's app-level token, checked by `invoicebot doctor` and at the start of `invoicebot run`,
against the fake Slack over HTTP (its `apps.connections.open` refuses any token but its xapp-… one)."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_socket import FakeSocketMode
from tests.harness.dns import sender_zone, write_dkim_key
from tests.harness.doctor import doctor_settings
from tests.harness.slack import BOT_TOKEN, CHANNEL, SIGNING_SECRET

APP_TOKEN = "xapp-1-A0INVOICEBOT-1-doctor-app-token"
CONNECTIONS_WRITE_FIX = (
    "    fix: at api.slack.com/apps → your app → Basic Information → App-Level Tokens, generate a token with "
    "the connections:write scope, turn Socket Mode on, and set SLACK_APP_TOKEN to it (xapp-…)"
)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    api = FakeSlackApi(token=BOT_TOKEN, socket_mode=FakeSocketMode(app_token=APP_TOKEN))
    await api.start()
    api.add_channel(CHANNEL, "invoices")
    yield api
    await api.stop()


def socket_mode_line(stdout):
    return next(line for line in stdout.splitlines() if line.startswith(("✓ Slack Socket Mode", "✗ Slack Socket Mode")))


async def test_doctor_opens_a_connection_with_the_app_token_and_passes(
    run, fake_slack, smtp, dns_server, web_url, tmp_path
):
    key_file, public_key = write_dkim_key(tmp_path)
    dns_server.serve(
        sender_zone(
            "example.com",
            spf="v=spf1 include:_spf.relay.example -all",
            dkim=("inv2026", public_key),
            dmarc="v=DMARC1; p=reject",
        )
    )
    settings = doctor_settings(
        fake_slack,
        smtp.port,
        dns_server,
        web_url,
        SLACK_APP_TOKEN=APP_TOKEN,
        INVOICEBOT_DKIM_PRIVATE_KEY_FILE=str(key_file),
    )

    result = await asyncio.to_thread(run, "doctor", settings=settings)

    assert result.returncode == 0, result.stdout + result.stderr
    assert socket_mode_line(result.stdout) == (
        "✓ Slack Socket Mode — on: SLACK_APP_TOKEN opens a connection (apps.connections.open)"
    )
    assert result.stdout.splitlines()[-1] == "all checks passed"
    [opened] = fake_slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN
    assert fake_slack.socket_mode is not None and fake_slack.socket_mode.opened == 1


@pytest.mark.parametrize(
    ("app_token", "detail"),
    [
        ("xapp-1-A0INVOICEBOT-1-revoked", "Slack refused SLACK_APP_TOKEN (invalid_auth)"),
        (
            BOT_TOKEN,
            "Slack refused SLACK_APP_TOKEN (not_allowed_token_type): xoxb… is a bot or user token, "
            "not an app-level token (xapp-…)",
        ),
    ],
    ids=["wrong-app-token", "bot-token-as-app-token"],
)
async def test_doctor_names_a_refused_app_token_and_where_to_make_one(run, fake_slack, dns_server, app_token, detail):
    settings = doctor_settings(fake_slack, 9, dns_server, "https://invoices.example.com", SLACK_APP_TOKEN=app_token)

    result = await asyncio.to_thread(run, "doctor", settings=settings)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    at = lines.index(f"✗ Slack Socket Mode — {detail}")
    assert lines[at + 1] == CONNECTIONS_WRITE_FIX
    assert "✓ Slack token" in result.stdout  # the bot token still works
    assert fake_slack.socket_mode is not None and fake_slack.socket_mode.opened == 0


async def test_doctor_without_app_token_says_socket_mode_is_off(run, fake_slack, dns_server):
    settings = doctor_settings(fake_slack, 9, dns_server, "https://invoices.example.com")
    without_public_url = {key: value for key, value in settings.items() if key != "INVOICEBOT_PUBLIC_URL"}

    with_url, without_url = await asyncio.gather(
        asyncio.to_thread(run, "doctor", settings=settings),
        asyncio.to_thread(run, "doctor", settings=without_public_url),
    )

    assert socket_mode_line(with_url.stdout) == (
        "✓ Slack Socket Mode — off (SLACK_APP_TOKEN is not set): Slack posts to https://invoices.example.com/slack/events"
    )
    lines = without_url.stdout.splitlines()
    at = lines.index(
        "✗ Slack Socket Mode — off (SLACK_APP_TOKEN is not set) and INVOICEBOT_PUBLIC_URL is not set: "
        "Slack cannot reach the app"
    )
    assert lines[at + 1].startswith("    fix: for Socket Mode (no public URL needed): at api.slack.com/apps")
    assert lines[at + 1].endswith("or set INVOICEBOT_PUBLIC_URL to the https address Slack posts to")
    assert fake_slack.calls_to("apps.connections.open") == []


async def test_run_in_socket_mode_refuses_a_wrong_app_token_with_one_line(run, fake_slack):
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": "xapp-1-A0INVOICEBOT-1-revoked",
        "INVOICEBOT_SLACK_API_URL": fake_slack.base_url,
        "INVOICEBOT_NOTIFY_CHANNEL": CHANNEL,
        "INVOICEBOT_HTTP_PORT": "0",
    }

    result = await asyncio.to_thread(run, "run", settings=settings)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Slack refused SLACK_APP_TOKEN (invalid_auth): " + CONNECTIONS_WRITE_FIX.removeprefix("    fix: ")
    )
    assert "Traceback" not in result.stderr and "never awaited" not in result.stderr
    assert [call.method for call in fake_slack.calls] == ["auth.test", "conversations.info", "apps.connections.open"]
    assert fake_slack.socket_mode is not None and fake_slack.socket_mode.connections == 0
