"""`invoicebot doctor`: every part an installation needs, checked in the order a new operator sets them up.

Settings parse (checked by the command before this runs), the database is reachable and at
head, Slack accepts the token with the manifest's scopes and the bot is in its channels, Slack
can reach the app (Socket Mode's app-level token opens a connection, or a public URL is set), the
SMTP relay lets us connect and, when a username is set, log in (the same `Transport.verify` as
`smtp verify`), the bounce mailbox lets us log in, the public URL answers /healthz, and the sender
domain's SPF, DKIM and DMARC let a receiver trust the invoices. Each check is a `Check` with the
sentence that fixes it; the command exits 0 only when all pass. Nothing here writes: a doctor only looks.
"""

from __future__ import annotations

import ssl

import httpx
from aioimaplib import AioImapException
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.bootstrap import smtp_transport
from bot.config import Settings
from bot.imap_mailbox import ImapAccount, ImapConnection, ImapError, ImapLoginRefused
from bot.organisation_settings import dkim_key, organisation_settings
from bot.slack_checks import slack_checks, socket_mode_check
from services.checks import Check, failed, passed
from services.db.migrate import UPGRADE_COMMAND, read_schema_state
from services.email.deliverability import SenderDomain, deliverability_checks, make_resolver
from services.email.transport import SendError
from services.errors import error_summary

CHECK_SECONDS = 10.0


async def database_check(settings: Settings) -> Check:
    title = "Database"
    try:
        state = await read_schema_state(settings.database_url)
    except (OSError, SQLAlchemyError) as exc:
        return failed(title, f"cannot open it: {error_summary(exc)}", "check DATABASE_URL and that the server runs")
    if state.at_head:
        return passed(title, f"reachable, schema at {state.head}")
    if state.current is None:
        return failed(title, "reachable, but the schema is not created", f"run `{UPGRADE_COMMAND}`")
    fix = "install the newer invoicebot" if state.ahead else f"run `{UPGRADE_COMMAND}`"
    return failed(title, f"reachable, schema at {state.current}; this version's is {state.head}", fix)


async def slack_setup_checks(settings: Settings) -> list[Check]:
    bot_token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=bot_token, base_url=settings.slack_api_url, timeout=int(CHECK_SECONDS))
    if bot_token is None:
        checks = [failed("Slack token", "SLACK_BOT_TOKEN is not set", "set it to the app's Bot User OAuth Token")]
    else:
        checks = await slack_checks(client, organisation_settings(settings).channels)
    if settings.slack_signing_secret is None:  # not checkable against Slack, but `run` / `web` refuse without it
        checks.append(
            failed(
                "Slack signing secret",
                "SLACK_SIGNING_SECRET is not set: `invoicebot run` and `web` refuse to start without it",
                "copy the Signing Secret from api.slack.com/apps → your app → Basic Information → App Credentials",
            )
        )
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    public_url = settings.public_url.rstrip("/") if "public_url" in settings.model_fields_set else None
    return [*checks, await socket_mode_check(client, app_token, public_url=public_url)]


async def smtp_check(settings: Settings) -> Check:
    title = "SMTP relay"
    if not settings.smtp_configured:
        return failed(title, "INVOICEBOT_SMTP_HOST is not set", "set INVOICEBOT_SMTP_HOST/_PORT/_SECURITY/_USERNAME")
    transport = smtp_transport(settings)
    try:
        features = await transport.verify()
    except SendError as exc:
        return failed(
            title, str(exc), "check INVOICEBOT_SMTP_HOST, _PORT, _SECURITY, _USERNAME and _PASSWORD (README, SMTP)"
        )
    finally:
        await transport.aclose()
    where = f"{settings.smtp_host}:{settings.smtp_port or ''}".rstrip(":")
    return passed(title, f"{where}: {smtp_session(settings)}" + (", SMTPUTF8 offered" if features.smtputf8 else ""))


def smtp_session(settings: Settings) -> str:
    """What a successful `Transport.verify` proved: it logs in only when a username is set."""
    return "connected and logged in" if settings.smtp_username else "connected (no login: no username set)"


async def imap_check(settings: Settings) -> Check:
    title = "Bounce mailbox"
    account = ImapAccount.from_settings(settings)
    if account is None:  # optional: provider webhooks may report bounces instead
        return passed(title, "not configured (INVOICEBOT_IMAP_HOST/_USERNAME/_PASSWORD): bounces are not read")
    connection = ImapConnection(account, CHECK_SECONDS)
    try:
        await connection.open()
    except (ImapError, AioImapException, OSError, TimeoutError, ssl.SSLError) as exc:
        detail = str(exc).replace(account.password, "********") or type(exc).__name__  # aioimaplib may echo it
        if isinstance(exc, ImapLoginRefused):
            return failed(title, detail, "check INVOICEBOT_IMAP_USERNAME and INVOICEBOT_IMAP_PASSWORD")
        return failed(title, detail, "check INVOICEBOT_IMAP_HOST, _PORT, _SECURITY and _MAILBOX")
    finally:
        await connection.close()
    return passed(title, f"{account.username}@{account.host}:{account.port}, mailbox {account.mailbox}")


async def public_url_check(settings: Settings) -> Check:
    title, url = "Public URL", f"{settings.public_url.rstrip('/')}/healthz"
    fix = "start `invoicebot web` and make INVOICEBOT_PUBLIC_URL reach it (README, production)"
    try:
        async with httpx.AsyncClient(timeout=CHECK_SECONDS) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        return failed(title, f"{url}: {type(exc).__name__} {exc}".strip(), fix)
    if response.status_code != 200:
        return failed(title, f"{url} answered {response.status_code}: {response.text[:200]}", fix)
    return passed(title, f"{url} answers 200")


def sender_domain(settings: Settings) -> SenderDomain:
    key = dkim_key(settings)
    return SenderDomain(
        from_domain=settings.sender_email.rpartition("@")[2],
        bounce_domain=settings.effective_bounce_domain,
        dkim_domain=settings.dkim_signing_domain,
        dkim_selector=settings.dkim_selector,
        relay=settings.spf_relay,
        smtp_host=settings.smtp_host,
        dkim_public_key=key.public_key_b64 if key else None,
    )


async def run_doctor(settings: Settings) -> list[Check]:
    """Every check, in set-up order; a failing one never stops the others."""
    checks = [await database_check(settings)]
    checks += await slack_setup_checks(settings)
    checks += [await smtp_check(settings), await imap_check(settings), await public_url_check(settings)]
    checks += await deliverability_checks(make_resolver(settings.dns_nameserver), sender_domain(settings))
    return checks
