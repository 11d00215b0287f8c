"""`/invoices due` with 100 installed workspaces (issue 17, Performance).

Target as benchmarks/slack_due.py's: p99 ≤ 50 ms, median ≤ 3× a constant-ack Bolt app measured
in the same run. What differs: the web app runs in OAuth mode (bot/workspaces.py) with
`--workspaces` installations in the installation store, their tokens sealed with Fernet, and one
organisation per workspace; each signed request comes from a team picked at random, so a
request's authorisation (installation lookup, token unsealing, Bolt's auth.test cache) and its
organisation and settings are the workspace's own. The first organisation holds the
`--rows` invoices of benchmarks.due_listing; each other one a copy of its first `--per-workspace`
invoices and their customers.

The baseline is a Bolt `AsyncApp` whose handler acks a constant message, authorised the way ours
is: Bolt's `AsyncInstallationStoreAuthorize` (cache_enabled, as ours) over the same sealed
installation store on the same database, so the ratio measures our listener's work, not the
cost of looking an installation up. Server process, interleaving, signing and 127.0.0.1 as in
benchmarks/slack_due.py (whose parts this reuses). Exit status 1 when a target is missed.

    .venv/bin/python -m benchmarks.slack_due_workspaces [--workspaces 100] [--rows N] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import text

from benchmarks.due_listing import CUSTOMER_COLUMNS, CUSTOMERS, INVOICE_COLUMNS, prepare
from benchmarks.slack_due import SIGNING_SECRET, measure_server, serve_until_stdin_closes, summarise
from bot.sandbox.slack_requests import SlackUserRef
from services.db.engine import create_engine

CLIENT_ID, CLIENT_SECRET = "1234.5678", "benchmark-client-secret"


def team(number: int) -> str:
    return f"T{number:04d}"


def token_of(team_id: str) -> str:
    return f"xoxb-{team_id}-benchmark"


def copy_statements(workspaces: int, per_workspace: int) -> list[tuple[str, dict[str, Any]]]:
    """Organisations 2..N, each with a copy of organisation 1's customers and first invoices."""
    customer_columns = CUSTOMER_COLUMNS.replace("organisation_id, ", "")
    invoice_columns = INVOICE_COLUMNS.replace("organisation_id, ", "").replace(", customer_id", "")
    invoice_columns = invoice_columns.replace(", public_token", "")
    statements: list[tuple[str, dict[str, Any]]] = [
        ("UPDATE organisations SET slack_team_id = :team WHERE id = 1", {"team": team(1)})
    ]
    for number in range(2, workspaces + 1):
        offset = (number - 1) * CUSTOMERS
        statements += [
            (
                "INSERT INTO organisations (id, name, street, tax_id, country, default_language, sender_email,"
                " smtp_status, created_at, slack_team_id) SELECT :org, :name, street, tax_id, country,"
                " default_language, sender_email, smtp_status, created_at, :team FROM organisations WHERE id = 1",
                {"org": number, "name": f"Workspace {number} Ltd", "team": team(number)},
            ),
            (
                f"INSERT INTO customers (id, organisation_id, {customer_columns}) SELECT id + :offset, :org,"
                f" {customer_columns} FROM customers WHERE organisation_id = 1",
                {"org": number, "offset": offset},
            ),
            (
                f"INSERT INTO invoices (organisation_id, customer_id, public_token, {invoice_columns})"
                f" SELECT :org, customer_id + :offset, public_token || :suffix, {invoice_columns}"
                " FROM invoices WHERE organisation_id = 1 AND id <= :per_workspace",
                {"org": number, "offset": offset, "suffix": f"-{number}", "per_workspace": per_workspace},
            ),
        ]
    return statements


async def database_for(args: argparse.Namespace, workdir: Path) -> tuple[str, str]:
    """A database of its own with the workspaces' organisations: a copy (SQLite) or `--postgres-url` rebuilt."""
    engine, where = await prepare(args.backend, args.rows, args.postgres_url, rebuild=args.backend == "postgres")
    url = engine.url.render_as_string(hide_password=False)
    await engine.dispose()
    if args.backend == "sqlite":
        copy = workdir / "slack_due_workspaces.db"
        shutil.copyfile(Path(url.split("///", 1)[1]), copy)
        url = f"sqlite:///{copy}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        for statement, parameters in copy_statements(args.workspaces, args.per_workspace):
            await conn.execute(text(statement), parameters)
    await engine.dispose()
    return url, where


# -- the server process ---------------------------------------------------------------


async def serve(database_url: str, workspaces: int) -> None:
    from cryptography.fernet import Fernet
    from slack_bolt.async_app import AsyncApp, AsyncBoltContext
    from slack_bolt.authorization import AuthorizeResult
    from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
    from slack_sdk.oauth.installation_store import Installation
    from slack_sdk.web.async_client import AsyncWebClient

    from benchmarks.due_listing import TODAY
    from bot.bootstrap import Seams, bootstrap
    from bot.config import load_settings
    from bot.sandbox.slack_api import FakeSlackApi
    from bot.sandbox.slack_oauth import APP_ID, INSTALLER, FakeSlackOAuth, FakeWorkspace
    from bot.web import create_web_app

    oauth = FakeSlackOAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, rotating=False)
    for number in range(1, workspaces + 1):
        oauth.add_workspace(FakeWorkspace(team_id=team(number), team_name=f"Workspace {number}"))
        oauth.tokens[token_of(team(number))] = team(number)
    fake = FakeSlackApi(token=None, oauth=oauth)
    await fake.start()
    settings = load_settings(
        DATABASE_URL=database_url,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        INVOICEBOT_TOKEN_KEY=Fernet.generate_key().decode(),
        INVOICEBOT_SLACK_API_URL=fake.base_url,
        INVOICEBOT_SLACK_AUTHORIZE_URL=fake.authorize_url,
        INVOICEBOT_SMTP_HOST="127.0.0.1",
    )
    runtime = bootstrap(settings, seams=Seams(today=lambda: TODAY))
    assert runtime.workspace_tokens is not None and runtime.slack_app is not None
    store = runtime.workspace_tokens.store
    for number in range(1, workspaces + 1):
        await store.async_save(
            Installation(
                app_id=APP_ID,
                enterprise_id=None,
                team_id=team(number),
                team_name=f"Workspace {number}",
                bot_token=token_of(team(number)),
                bot_id=f"B{team(number)}",
                bot_user_id=f"UBOT{team(number)}",
                bot_scopes="commands,chat:write,users:read",
                user_id=INSTALLER,
            )
        )
    api = AsyncWebClient(base_url=fake.base_url)
    installed = AsyncInstallationStoreAuthorize(
        logger=logging.getLogger("benchmark"),
        installation_store=store,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        client=api,
        cache_enabled=True,
    )

    async def authorize(
        context: AsyncBoltContext, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        answer = await installed(context=context, enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        if answer is None:
            raise SystemExit(f"no installation for {team_id}")
        return answer

    baseline = AsyncApp(signing_secret=SIGNING_SECRET, client=api, authorize=authorize)

    web = create_web_app(slack_app=runtime.slack_app, slack_signing_secret=SIGNING_SECRET)
    await serve_until_stdin_closes(web, baseline)
    await runtime.aclose()
    await fake.stop()


# -- the client -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--rows", type=int, default=100_000, help="invoices of the first workspace")
    parser.add_argument("--per-workspace", type=int, default=1000, help="invoices of each other workspace")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/test_e17_bench",
        help="a database of its own: its schema is dropped and rebuilt",
    )
    parser.add_argument("--serve", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.workspaces))
        return
    users = [SlackUserRef(id="U0BENCH", team_id=team(number), name="bench") for number in range(1, args.workspaces + 1)]
    with tempfile.TemporaryDirectory() as workdir:
        url, where = asyncio.run(database_for(args, Path(workdir)))
        module = ["benchmarks.slack_due_workspaces", "--serve", url, "--workspaces", str(args.workspaces)]
        app_ms, baseline_ms, answer = measure_server(module, args.requests, users)
    print(
        f"\n{args.backend}: {args.workspaces} installed workspaces (sealed tokens), {args.rows:,} invoices in the"
        f" first ({where}), {args.per_workspace:,} in each other; {args.requests} requests each, random teams,"
        " interleaved with a constant-ack Bolt app authorising through the same installation store"
    )
    sys.exit(0 if summarise(app_ms, baseline_ms, answer) else 1)


if __name__ == "__main__":
    main()
