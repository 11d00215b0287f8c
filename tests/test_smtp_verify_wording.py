"""`smtp verify` and `doctor` say "logged in" only when they logged in: with no username set,
the relay was only connected to (issue 13). Against the real aiosmtpd server, with and without AUTH."""

import asyncio

from bot.sandbox.smtp_server import ScriptedSmtpServer, ServerOptions

PASSWORD = "relay-secret-123"


def smtp_env(port, **extra):
    return {
        "INVOICEBOT_SMTP_HOST": "127.0.0.1",
        "INVOICEBOT_SMTP_PORT": str(port),
        "INVOICEBOT_SMTP_SECURITY": "none",
        "INVOICEBOT_SENDER_EMAIL": "invoices@example.com",
        **extra,
    }


def smtp_line(result):
    return next(line for line in result.stdout.splitlines() if line.startswith(("✓ SMTP relay", "✗ SMTP relay")))


async def test_without_a_username_both_commands_say_connected_without_login(run, smtp):
    settings = smtp_env(smtp.port)

    verified = await asyncio.to_thread(run, "smtp", "verify", settings=settings)
    doctor = await asyncio.to_thread(run, "doctor", settings=settings)

    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == "SMTP settings verified: connected (no login: no username set)\n"
    assert (
        smtp_line(doctor)
        == f"✓ SMTP relay — 127.0.0.1:{smtp.port}: connected (no login: no username set), SMTPUTF8 offered"
    )


async def test_with_a_username_both_commands_say_logged_in(run):
    async with ScriptedSmtpServer(options=ServerOptions(credentials=("invoices", PASSWORD))) as server:
        settings = smtp_env(server.port, INVOICEBOT_SMTP_USERNAME="invoices", INVOICEBOT_SMTP_PASSWORD=PASSWORD)

        verified = await asyncio.to_thread(run, "smtp", "verify", settings=settings)
        doctor = await asyncio.to_thread(run, "doctor", settings=settings)

    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == "SMTP settings verified: connected and logged in\n"
    assert smtp_line(doctor) == f"✓ SMTP relay — 127.0.0.1:{server.port}: connected and logged in, SMTPUTF8 offered"
