"""The settings `invoicebot doctor` is run with in the tests: every part on 127.0.0.1."""

import socket

from tests.harness.slack import BOT_TOKEN, CHANNEL, SIGNING_SECRET


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def doctor_settings(fake_slack, smtp_port, dns_server, public_url, **extra):
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "INVOICEBOT_SLACK_API_URL": fake_slack.base_url,
        "INVOICEBOT_NOTIFY_CHANNEL": CHANNEL,
        "INVOICEBOT_SENDER_EMAIL": "invoices@example.com",
        "INVOICEBOT_SMTP_HOST": "127.0.0.1",
        "INVOICEBOT_SMTP_PORT": str(smtp_port),
        "INVOICEBOT_SMTP_SECURITY": "none",
        "INVOICEBOT_PUBLIC_URL": public_url,
        "INVOICEBOT_DNS_NAMESERVER": dns_server.nameserver,
        "INVOICEBOT_DKIM_SELECTOR": "inv2026",
        **extra,
    }
