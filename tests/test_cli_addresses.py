"""The command line: `smtp verify` records whether the server offers SMTPUTF8; import refuses what it cannot send."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.sandbox.smtp_server import ScriptedSmtpServer
from services.db.models import Organisation
from services.email.script import SmtpScript
from tests.harness.cli import INVOICEBOT
from tests.harness.processes import stopped

HEADER = "invoice_number,customer_ref,customer_name,customer_emails,issue_date,due_date,currency,description,"
HEADER += "quantity,unit_price,tax_rate,invoice_total"


def test_import_refuses_a_non_ascii_name_before_the_at_with_its_line_and_column(run, tmp_path: Path):
    assert run("db", "upgrade").returncode == 0
    path = tmp_path / "invoices.csv"
    path.write_text(
        f"{HEADER}\nA-1,ACME,Acme,zoë@acme.example,2026-11-01,2026-12-01,EUR,Work,1,100,20,120\n", encoding="utf-8"
    )

    result = run("import", str(path))

    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "line 2: customer_emails: zoë@… has a non-ASCII name before the @; your mail server does not accept "
        "such addresses (no SMTPUTF8)"
    )


async def smtp_verify(
    database_url: str, tmp_path: Path, server: ScriptedSmtpServer, *args: str
) -> tuple[int | None, str, str]:
    """`invoicebot smtp verify ARGS` against `server`, while this event loop keeps serving it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("INVOICEBOT_", "SLACK_", "DATABASE"))}
    env.update(
        DATABASE_URL=database_url,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
        INVOICEBOT_SMTP_PORT=str(server.port),
        INVOICEBOT_SMTP_SECURITY="none",
        INVOICEBOT_SENDER_EMAIL="invoices@example.com",
    )
    process = await asyncio.create_subprocess_exec(
        INVOICEBOT, "smtp", "verify", *args, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        await stopped(process)  # not left running (with its database connection) when it times out
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("offers", [True, False])
async def test_smtp_verify_records_whether_the_server_offers_smtputf8(
    run, database_url: str, tmp_path: Path, sessions, offers: bool
):
    assert run("db", "upgrade").returncode == 0
    async with ScriptedSmtpServer(script=SmtpScript(smtputf8=offers)) as server:
        code, out, err = await smtp_verify(database_url, tmp_path, server)

    assert code == 0, err
    assert "SMTP settings verified" in out
    async with sessions() as session:
        assert await session.scalar(select(Organisation.smtp_utf8)) is offers


async def test_smtp_verify_refuses_a_test_address_the_server_cannot_take_and_keeps_the_settings_verified(
    run, database_url: str, tmp_path: Path, sessions
):
    assert run("db", "upgrade").returncode == 0
    async with ScriptedSmtpServer(script=SmtpScript(smtputf8=False)) as server:
        code, _out, err = await smtp_verify(database_url, tmp_path, server, "--send-test", "zoë@example.com")
        assert server.received == []

    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "error: SMTP settings verified, but no test email was sent: --send-test zoë@… has a non-ASCII name before "
        "the @; your mail server does not accept such addresses (no SMTPUTF8)"
    )
    async with sessions() as session:
        assert (await session.execute(select(Organisation.smtp_status, Organisation.smtp_utf8))).one() == (
            "verified",
            False,
        )
