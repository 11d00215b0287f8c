"""A request's authorisation comes from a cache (issue 17: 100 workspaces at `/invoices due` speed).

Bolt's authorize reads the installation store on every request; ours keeps each workspace's
answer for a short while, so a workspace's second request reads no installation row. Any write
to the store in the process (here: a re-install, which seals a new token) empties the cache.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Runtime
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from services.db.models import Organisation
from tests.harness.workspaces import ANN, Browser


def _installation_reads(runtime: Runtime) -> list[str]:
    """Every SELECT on the installation tables the app runs from now on."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and (
            "slack_bots" in statement or "slack_installations" in statement
        ):
            seen.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_workspaces_next_request_reads_no_installation_until_the_store_changes(
    browser: Browser,
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    runtime: Runtime,
    session: AsyncSession,
    org: Organisation,
):
    assert (await browser.install("T0ONE")).status_code == 200
    reads = _installation_reads(runtime)
    first = await slack.command("due", user=ANN, response_url=fake_slack.response_url("a"))
    assert first.status_code == 200 and reads, "the first request looks its installation up"
    reads.clear()

    again = await slack.command("due", user=ANN, response_url=fake_slack.response_url("b"))

    assert again.status_code == 200 and "blocks" in again.json()
    assert reads == [], "served from the cache"
    assert (await browser.install("T0ONE")).status_code == 200, "a re-install seals a new token"
    reads.clear()
    after = await slack.command("due", user=ANN, response_url=fake_slack.response_url("c"))
    assert after.status_code == 200 and reads, "a write to the store empties the cache"
