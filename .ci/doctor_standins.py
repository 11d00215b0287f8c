"""The local servers `invoicebot doctor` checks in .ci/wheel-check, all on 127.0.0.1, in one process.

Run with the checkout's python (it imports bot.sandbox and the tests' DNS server): the fake Slack
Web API with Socket Mode, a DNS server (dnslib) serving example.com's SPF, DKIM key and DMARC
policy, and the sandbox's SMTP relay. When they listen it writes FOLDER/env (KEY=VALUE lines the
doctor and `invoicebot web` need, with a fresh DKIM key file in FOLDER), then serves until
SIGTERM/SIGINT or --max-seconds.

    python .ci/doctor_standins.py FOLDER [--max-seconds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
from pathlib import Path

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_socket import FakeSocketMode
from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.email.script import SmtpScript
from tests.harness.dns import TestDnsServer, sender_zone, write_dkim_key

CHANNEL = "C0NOTIFY"
SELECTOR = "inv2026"


async def serve(folder: Path, max_seconds: float) -> None:
    bot_token, app_token = "xoxb-wheel-" + secrets.token_hex(8), "xapp-1-A0WHEEL-" + secrets.token_hex(8)
    slack = FakeSlackApi(token=bot_token, socket_mode=FakeSocketMode(app_token=app_token))
    slack.add_channel(CHANNEL, "invoices")
    key_file, public_key = write_dkim_key(folder)
    dns = TestDnsServer()
    dns.serve(
        sender_zone(
            "example.com",
            spf="v=spf1 include:_spf.relay.example -all",
            dkim=(SELECTOR, public_key),
            dmarc="v=DMARC1; p=quarantine",
        )
    )
    dns.server.start_thread()
    smtp = ScriptedSmtpServer(script=SmtpScript())
    await slack.start()
    await smtp.start()
    try:
        settings = {
            "SLACK_BOT_TOKEN": bot_token,
            "SLACK_APP_TOKEN": app_token,
            "SLACK_SIGNING_SECRET": secrets.token_hex(16),
            "INVOICEBOT_SLACK_API_URL": slack.base_url,
            "INVOICEBOT_NOTIFY_CHANNEL": CHANNEL,
            "INVOICEBOT_SENDER_EMAIL": "invoices@example.com",
            "INVOICEBOT_SMTP_HOST": "127.0.0.1",
            "INVOICEBOT_SMTP_PORT": str(smtp.port),
            "INVOICEBOT_SMTP_SECURITY": "none",
            "INVOICEBOT_DNS_NAMESERVER": dns.nameserver,
            "INVOICEBOT_DKIM_SELECTOR": SELECTOR,
            "INVOICEBOT_DKIM_PRIVATE_KEY_FILE": str(key_file),
        }
        partial = folder / "env.partial"
        partial.write_text("".join(f"{key}={value}\n" for key, value in settings.items()), encoding="utf-8")
        partial.rename(folder / "env")  # whole or absent: the script waits for it
        print(f"stand-ins: Slack {slack.base_url}, SMTP 127.0.0.1:{smtp.port}, DNS {dns.nameserver}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    finally:
        await smtp.stop()
        await slack.stop()
        dns.server.stop()
        dns.server.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop after this long at most")
    args = parser.parse_args()
    asyncio.run(serve(args.folder, args.max_seconds))


if __name__ == "__main__":
    main()
