"""`invoicebot doctor` against real local servers: DNS (dnslib), the fake Slack Web API, aiosmtpd, the web app."""

import asyncio

from tests.harness.dns import sender_zone, write_dkim_key
from tests.harness.doctor import doctor_settings, free_port
from tests.harness.slack import BOT_TOKEN, CHANNEL


def lines_of(result):
    return result.stdout.splitlines()


async def test_a_healthy_installation_passes_every_check_and_exits_0(
    run, fake_slack, smtp, dns_server, web_url, tmp_path
):
    key_file, public_key = write_dkim_key(tmp_path)
    dns_server.serve(
        sender_zone(
            "example.com",
            spf="v=spf1 include:_spf.relay.example -all",
            dkim=("inv2026", public_key),
            dmarc="v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com",
        )
    )
    fake_slack.add_channel(CHANNEL, "invoices")
    settings = doctor_settings(
        fake_slack, smtp.port, dns_server, web_url, INVOICEBOT_DKIM_PRIVATE_KEY_FILE=str(key_file)
    )

    result = await asyncio.to_thread(run, "doctor", settings=settings)

    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split(" — ")[0] for line in lines_of(result)] == [
        "✓ Settings",
        "✓ Database",
        "✓ Slack token",
        "✓ Slack scopes",
        "✓ Notification channel",
        "✓ Slack Socket Mode",
        "✓ SMTP relay",
        "✓ Bounce mailbox",
        "✓ Public URL",
        "✓ SPF",
        "✓ DKIM",
        "✓ DMARC",
        "all checks passed",
    ]
    assert "✓ SPF — example.com allows 127.0.0.1" in result.stdout
    assert "✓ DMARC — policy quarantine, aligned through SPF and DKIM" in result.stdout
    assert result.stderr == ""


async def test_each_broken_part_fails_its_line_with_the_fix_and_exits_1(run, fake_slack, dns_server, tmp_path):
    dns_server.serve(
        sender_zone("example.com", spf="v=spf1 ip4:192.0.2.10 -all", dkim=None, dmarc=None)
        + 'bounces.example.org. 300 IN TXT "v=spf1 -all"\n'
    )
    fake_slack.scopes = ("commands", "chat:write", "channels:read", "groups:read")
    fake_slack.add_channel(CHANNEL, "invoices", member=False)
    closed = free_port()
    settings = doctor_settings(fake_slack, closed, dns_server, f"http://127.0.0.1:{closed}")

    result = await asyncio.to_thread(run, "doctor", database=f"sqlite:///{tmp_path / 'fresh.db'}", settings=settings)

    assert result.returncode == 1
    out = result.stdout
    assert "✗ Database — reachable, but the schema is not created" in out
    assert "    fix: run `invoicebot db upgrade`" in out
    assert "✗ Slack scopes — missing users:read, users:read.email" in out
    assert "✗ Notification channel — the bot is not in #invoices" in out
    assert "    fix: invite it: type /invite @invoicebot in #invoices" in out
    assert "✗ SMTP relay" in out
    assert "✗ Public URL" in out and "fix: start `invoicebot web`" in out
    assert '✗ SPF — example.com: "v=spf1 ip4:192.0.2.10 -all" does not allow 127.0.0.1' in out
    assert "    fix: add ip4:127.0.0.1 to the SPF record of example.com" in out
    assert "✗ DKIM — inv2026._domainkey.example.com publishes no DKIM key" in out
    assert "✗ DMARC — example.com publishes no DMARC policy" in out
    assert '    fix: publish TXT at _dmarc.example.com: "v=DMARC1; p=none"' in out
    assert out.splitlines()[-1] == "8 problem(s) to fix"
    assert "Traceback" not in result.stderr


async def test_a_wrong_token_and_a_misaligned_bounce_domain_are_named(run, fake_slack, smtp, dns_server, tmp_path):
    dns_server.serve(
        sender_zone("example.com", spf=None, dkim=None, dmarc="v=DMARC1; p=reject; aspf=s")
        + 'bounces.example.org. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"\n'
    )
    settings = doctor_settings(
        fake_slack,
        smtp.port,
        dns_server,
        "http://127.0.0.1:9",
        SLACK_BOT_TOKEN="xoxb-revoked",
        INVOICEBOT_BOUNCE_DOMAIN="bounces.example.org",
        INVOICEBOT_DKIM_SELECTOR="",
    )

    result = await asyncio.to_thread(run, "doctor", settings=settings)

    out = result.stdout
    assert result.returncode == 1
    assert "✗ Slack token — Slack refused SLACK_BOT_TOKEN (invalid_auth)" in out
    assert "✓ SPF — bounces.example.org allows 127.0.0.1" in out
    assert "✗ DKIM — INVOICEBOT_DKIM_SELECTOR is not set" in out
    assert "Slack signing secret" not in out  # set: no line
    assert "✗ DMARC — neither the bounce domain bounce.example.org" not in out
    assert "✗ DMARC — neither the bounce domain bounces.example.org nor the DKIM domain example.com aligns" in out
    assert "fix: set INVOICEBOT_BOUNCE_DOMAIN to example.com or a subdomain of it" in out


def test_a_bad_setting_is_the_first_failed_line(run):
    result = run("doctor", settings={"INVOICEBOT_SMTP_PORT": "70000"})

    assert result.returncode == 1
    assert lines_of(result)[0].startswith("✗ Settings — setting INVOICEBOT_SMTP_PORT is invalid")
    assert lines_of(result)[1] == "    fix: correct it in the environment or in .env"


def test_a_missing_signing_secret_fails_its_line(run):
    result = run(
        "doctor", settings={"SLACK_BOT_TOKEN": BOT_TOKEN, "INVOICEBOT_SLACK_API_URL": "http://127.0.0.1:9/api/"}
    )

    lines = lines_of(result)
    at = lines.index(
        "✗ Slack signing secret — SLACK_SIGNING_SECRET is not set: "
        "`invoicebot run` and `web` refuse to start without it"
    )
    assert lines[at + 1] == (
        "    fix: copy the Signing Secret from api.slack.com/apps → your app → Basic Information → App Credentials"
    )
    assert result.returncode == 1
