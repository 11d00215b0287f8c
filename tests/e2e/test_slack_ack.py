"""Slack always hears back in time: a submission acks "⏳ working" and finishes after the ack.

A bulk of 500 and a database held write-locked by another connection: the HTTP answer to
the submission is the working view whatever the size or the lock, and afterwards the
deliveries exist (one per invoice, up to the bulk limit) and the view says what happened.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click, view_submission_body
from services.db.models import Delivery, Invoice, Organisation
from services.sending.bulk import MAX_BULK_INVOICES
from tests import factories
from tests.harness.modals import finished_view, open_review
from tests.harness.reading import state_values, texts
from tests.harness.seeding import seed_invoice
from tests.harness.sending import deliveries
from tests.harness.slack import ALICE, TODAY, VERP_KEY, settings_with

# The e2e settings plus a VERP key, so a send signs its token without writing a key file.
settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)


BULK = 500


async def seed_ready(session: AsyncSession, org: Organisation, count: int) -> None:
    acme = await factories.customer(session, org.id)
    for n in range(count):
        await factories.invoice(session, org.id, acme, number=f"B-{n:04d}", due=TODAY - timedelta(days=1 + n % 300))
    await session.commit()


async def open_bulk_confirmation(slack: SlackRequestClient, fake_slack: FakeSlackApi) -> dict[str, Any]:
    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [footer] = [b for b in listing["blocks"] if b.get("block_id") == "due_footer"]
    [send_all] = [e for e in footer["elements"] if e["text"]["text"].startswith("Send all ready")]
    await slack.click(button_click(send_all, block_id="due_footer"), user=ALICE, response_url=fake_slack.response_url())
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.update")), within=30)
    [update] = fake_slack.calls_to("views.update")
    return fake_slack.views[update.args["view_id"]]


async def test_a_500_invoice_send_all_ready_acks_working_then_sends_the_limit_once_and_says_so(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_ready(session, org, BULK)

    view = await open_bulk_confirmation(slack, fake_slack)
    assert view["submit"]["text"] == f"Send {MAX_BULK_INVOICES}"
    assert texts(view["blocks"])[-1] == (
        f"{BULK - MAX_BULK_INVOICES} other ready invoices are not in this send (at most {MAX_BULK_INVOICES} per send):"
        " press *Send all ready* again afterwards."
    )

    answer = await slack.submit(view, {}, user=ALICE)
    retry = await slack.post(view_submission_body(view=view, values={}, user=ALICE), headers={"X-Slack-Retry-Num": "1"})

    assert answer.status_code == 200 and retry.status_code == 200
    assert answer.json()["response_action"] == "update"
    assert texts(answer.json()["view"]["blocks"]) == [f"⏳ Sending {MAX_BULK_INVOICES} invoices…"]
    outcome = texts((await finished_view(fake_slack, view["id"], within=120))["blocks"])[0]
    assert outcome.startswith(f"✅ *{MAX_BULK_INVOICES} asked to send*\n• *B-")
    session.expire_all()
    per_invoice = (
        await session.execute(
            select(Invoice.number, func.count(Delivery.id)).join(Delivery, Delivery.invoice_id == Invoice.id)
            .group_by(Invoice.number)
        )
    ).all()  # fmt: skip
    confirmed = sorted(json.loads(view["private_metadata"]))
    assert len(confirmed) == MAX_BULK_INVOICES
    assert sorted(number for number, _ in per_invoice) == confirmed
    assert {count for _, count in per_invoice} == {1}


class WriteLock:
    """Another connection holding the database write-locked: SQLite `BEGIN EXCLUSIVE`, PostgreSQL `LOCK TABLE`.

    Readers still read (SQLite in WAL mode; PostgreSQL's EXCLUSIVE mode allows plain SELECTs);
    every write waits until `release`.
    """

    def __init__(self, engine: AsyncEngine, database_url: str) -> None:
        self.engine, self.url = engine, make_url(database_url)
        self.sqlite: sqlite3.Connection | None = None
        self.postgres: AsyncConnection | None = None

    async def hold(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self.sqlite = sqlite3.connect(str(self.url.database), isolation_level=None)
            self.sqlite.execute("BEGIN EXCLUSIVE")
            return
        self.postgres = await self.engine.connect()
        await self.postgres.begin()
        await self.postgres.execute(text("LOCK TABLE deliveries, invoices IN EXCLUSIVE MODE"))

    async def release(self) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("COMMIT")
            self.sqlite.close()
        if self.postgres is not None:
            await self.postgres.commit()
            await self.postgres.close()


async def test_a_review_submitted_while_the_database_is_write_locked_acks_working_and_sends_once_released(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    engine: AsyncEngine,
    database_url: str,
):
    await seed_invoice(session, org)
    view = await open_review(slack, fake_slack, "INV-0001")
    lock = WriteLock(engine, database_url)
    await lock.hold()
    try:
        answer = await slack.submit(view, state_values(view), user=ALICE)

        assert answer.status_code == 200
        assert answer.json()["response_action"] == "update"
        assert texts(answer.json()["view"]["blocks"]) == ["⏳ Sending INV-0001…"]
        assert await deliveries(session) == []  # answered while the write still waits for the lock
        await session.rollback()  # end the read, so it does not hold the PostgreSQL lock queue
    finally:
        await lock.release()

    outcome = texts((await finished_view(fake_slack, view["id"], within=30))["blocks"])[0]
    assert outcome.startswith("✅ *INV-0001* is queued")
    [delivery] = await deliveries(session)
    assert (delivery.status, delivery.idempotency_key) == ("queued", view["id"])
