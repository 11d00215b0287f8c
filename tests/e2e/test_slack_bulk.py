"""*Send all ready (N)*: one confirmation listing each invoice and its recipients, then one delivery each."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click
from handlers.blocks.bulk import MAX_LISTED, BulkItem, bulk_confirmation_view, decode_numbers, encode_numbers
from handlers.ids import CallbackId
from services.db.models import Delivery, InvoiceStatus, Organisation, OrganisationSettingsRow
from services.sending.bulk import MAX_BULK_INVOICES
from tests import factories
from tests.harness.modals import finished_view, open_confirmation
from tests.harness.reading import texts
from tests.harness.seeding import seed_ready_and_draft
from tests.harness.slack import ALICE, TODAY, VERP_KEY, settings_with

# The e2e settings plus a VERP key, so a send signs its token without writing a key file.
settings = settings_with(INVOICEBOT_SECRET_KEY=VERP_KEY)


async def test_send_all_ready_confirms_each_ready_invoice_with_its_recipients(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_ready_and_draft(session, org)

    view = await open_confirmation(slack, fake_slack)

    assert texts(fake_slack.calls_to("views.open")[0].args["view"]["blocks"]) == ["⏳ Loading…"]
    assert view["submit"]["text"] == "Send 2"
    assert texts(view["blocks"]) == [
        "Send *2 invoices*, one email each, to these recipients?",
        "*A-1* · Acme Corp · €120.00\nTo ap@acme.example",
        "*G-1* · Globex · €120.00\nTo ap@globex.example, cfo@globex.example",
    ]


async def test_confirming_creates_one_delivery_per_invoice_even_when_submitted_twice(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_ready_and_draft(session, org)
    view = await open_confirmation(slack, fake_slack)

    first, second = await asyncio.gather(slack.submit(view, {}, user=ALICE), slack.submit(view, {}, user=ALICE))

    answers = [first.json(), second.json()]
    assert all(answer["response_action"] == "update" for answer in answers)
    assert all(texts(answer["view"]["blocks"]) == ["⏳ Sending 2 invoices…"] for answer in answers)
    await fake_slack.wait_until(lambda: len(fake_slack.calls_to("views.update")) == 3)  # the listing's, then one each
    results = [texts(call.args["view"]["blocks"])[0] for call in fake_slack.calls_to("views.update")[1:]]
    assert all(result.startswith("✅ *2 asked to send*\n• *A-1* — ") for result in results)
    rows = (await session.execute(select(Delivery.to, Delivery.status, Delivery.requested_by))).all()
    assert sorted(rows) == [
        (["ap@acme.example"], "queued", ALICE.id),
        (["ap@globex.example", "cfo@globex.example"], "queued", ALICE.id),
    ]


async def test_an_invoice_sent_meanwhile_is_skipped_with_its_reason(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_ready_and_draft(session, org)
    view = await open_confirmation(slack, fake_slack)
    invoice = await factories.invoice(session, org.id, await factories.customer(session, org.id), number="X-1")
    await session.commit()
    meanwhile = {**view, "private_metadata": view["private_metadata"].replace('"G-1"', '"G-1","X-1","NOPE"')}

    answer = (await slack.submit(meanwhile, {}, user=ALICE)).json()

    assert texts(answer["view"]["blocks"]) == ["⏳ Sending 4 invoices…"]
    result = texts((await finished_view(fake_slack, view["id"]))["blocks"])[0]
    assert "✅ *3 asked to send*" in result and "• *X-1* — queued" in result
    assert "⚠️ *1 skipped*\n• *NOPE* — There is no invoice 'NOPE'." in result
    assert invoice.number == "X-1"


def test_a_long_confirmation_is_cut_with_and_n_more_under_slacks_limits():
    items = [BulkItem(f"INV-{n:05d}", "Acme Corp", "€1.00", ("ap@acme.example",)) for n in range(150)]

    view = bulk_confirmation_view(items)

    assert len(view["blocks"]) <= 100
    assert len(view["private_metadata"]) <= 3000
    assert texts(view["blocks"])[-1].startswith("and ") and texts(view["blocks"])[-1].endswith(" more")
    listed = len(view["blocks"]) - 3
    assert listed == MAX_LISTED


def test_the_confirmation_lists_at_most_the_services_limit_and_says_how_many_wait_for_the_next_run():
    items = [BulkItem(f"N{n}", "Acme Corp", "€1.00", ("ap@acme.example",)) for n in range(MAX_BULK_INVOICES + 37)]

    view = bulk_confirmation_view(items)

    assert view["submit"]["text"] == f"Send {MAX_BULK_INVOICES}"
    assert len(decode_numbers(view["private_metadata"])) == MAX_BULK_INVOICES
    assert texts(view["blocks"])[-1] == (
        f"37 other ready invoices are not in this send (at most {MAX_BULK_INVOICES} per send):"
        " press *Send all ready* again afterwards."
    )


async def test_send_all_ready_counts_and_sends_the_ready_invoices_of_every_page(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    acme = await factories.customer(session, org.id)
    for n in range(25):  # more than a page; every third one a draft (not ready)
        status = InvoiceStatus.DRAFT if n % 3 == 0 else InvoiceStatus.VALIDATED
        await factories.invoice(
            session, org.id, acme, number=f"P-{n:02d}", due=TODAY - timedelta(days=30 - n), status=status
        )
    await session.commit()

    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [footer] = [b for b in listing["blocks"] if b.get("block_id") == "due_footer"]
    [send_all] = [e for e in footer["elements"] if e["text"]["text"].startswith("Send all ready")]
    assert send_all["text"]["text"] == "Send all ready (16)"
    await slack.click(button_click(send_all, block_id="due_footer"), user=ALICE, response_url=fake_slack.response_url())
    await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("views.update")))
    [update] = fake_slack.calls_to("views.update")
    view = fake_slack.views[update.args["view_id"]]
    assert view["submit"]["text"] == "Send 16"

    await slack.submit(view, {}, user=ALICE)
    await finished_view(fake_slack, view["id"])

    numbers = (await session.execute(select(Delivery.invoice_id))).scalars().all()
    assert len(numbers) == 16


async def test_a_confirmation_naming_more_than_the_limit_is_refused_in_the_ack_and_sends_nothing(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_ready_and_draft(session, org)
    numbers = ["A-1", "G-1"] + [f"X-{n}" for n in range(MAX_BULK_INVOICES - 1)]
    view = {"id": "VBIG", "callback_id": CallbackId.BULK, "private_metadata": encode_numbers(numbers)}

    answer = (await slack.submit(view, {}, user=ALICE)).json()

    assert answer["response_action"] == "update"
    assert texts(answer["view"]["blocks"]) == [
        f"⚠️ Send at most {MAX_BULK_INVOICES} invoices at once ({MAX_BULK_INVOICES + 1} given).\nNothing was sent."
    ]
    assert (await session.execute(select(Delivery.id))).all() == []
    assert fake_slack.calls_to("views.update") == []


async def test_send_all_ready_copies_the_organisations_own_cc_and_bcc_as_the_single_review_does(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_ready_and_draft(session, org)
    view = await open_confirmation(slack, fake_slack)  # the first request seeded the settings row
    row = await session.get(OrganisationSettingsRow, org.id)
    assert row is not None
    row.cc, row.bcc = ["archive@example.com"], ["audit@example.com"]
    org.settings_version += 1  # as an admin's change does
    await session.commit()

    await slack.submit(view, {}, user=ALICE)

    await finished_view(fake_slack, view["id"])
    session.expire_all()
    rows = (await session.execute(select(Delivery.to, Delivery.cc, Delivery.bcc))).all()
    assert sorted(rows) == [
        (["ap@acme.example"], ["archive@example.com"], ["audit@example.com"]),
        (["ap@globex.example", "cfo@globex.example"], ["archive@example.com"], ["audit@example.com"]),
    ]
