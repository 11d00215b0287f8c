"""Extra attachments (issue 16): files added to the review modal's file_input, through the real web app,
Bolt and slack_sdk against the fake Slack Web API (files.info, the private download URL), the production
worker and a real SMTP server (aiosmtpd). Each test asserts what a person sees: the modal's answer, the
email as received, the rows written."""

from __future__ import annotations

import io
import zipfile
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bootstrap import Loop, bootstrap
from bot.config import Settings
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient
from bot.sandbox.smtp_server import ScriptedSmtpServer
from handlers.ids import BlockId
from services.db.models import DeliveryAttachment, Organisation, StoredFile
from tests.harness.modals import open_review, submit
from tests.harness.reading import input_blocks, notice, texts
from tests.harness.seeding import seed_invoice
from tests.harness.sending import deliveries
from tests.harness.slack import ALICE, BOT_TOKEN, slack_settings

MB = 1024 * 1024
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CSV = "Datum;Beträge\n2026-11-01;12,50\n".encode()


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlackApi, smtp: ScriptedSmtpServer) -> Settings:
    return slack_settings(
        database_url,
        fake_slack,
        INVOICEBOT_SMTP_PORT=str(smtp.port),
        INVOICEBOT_SMTP_SECURITY="none",
        INVOICEBOT_SECRET_KEY="test-verp-secret",
    )


async def _drain(settings: Settings) -> int:
    worker_runtime = bootstrap(settings, loops=[Loop.WORKER])
    assert worker_runtime.worker is not None
    try:
        return await worker_runtime.worker.drain()
    finally:
        await worker_runtime.aclose()


async def test_three_extra_files_reach_the_customer_after_the_invoice_pdf_with_their_bytes_and_names(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    settings: Settings,
    smtp: ScriptedSmtpServer,
):
    await seed_invoice(session, org)
    uploads = {"timesheet.pdf": PDF, "Übersicht März.csv": CSV, "hours.xlsx": _xlsx()}
    ids = [fake_slack.files.upload(name, content) for name, content in uploads.items()]
    review = await open_review(slack, fake_slack, "INV-0001")
    assert input_blocks(review)[BlockId.REVIEW_FILES]["element"]["type"] == "file_input"

    answer = await submit(slack, review, fake_slack=fake_slack, review_files=ids)

    assert answer["response_action"] == "update"
    assert "is queued" in texts(answer["view"]["blocks"])[0]
    assert {token for _id, token in fake_slack.files.downloads} == {BOT_TOKEN}
    assert await _drain(settings) == 1
    [received] = smtp.received
    email = message_from_bytes(received.data, policy=policy.default)
    assert isinstance(email, EmailMessage)
    parts = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in email.iter_attachments()]
    assert [name for name, _type, _content in parts] == ["INV-0001.pdf", *uploads]
    assert isinstance(parts[0][2], bytes) and parts[0][2].startswith(b"%PDF-")
    assert [(t, c) for _n, t, c in parts[1:]] == [
        ("application/pdf", PDF),
        ("text/csv", CSV),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", uploads["hours.xlsx"]),
    ]
    assert "filename*=utf-8''" in received.data.decode("ascii"), "a non-ASCII name is written per RFC 2231"


async def test_the_same_bytes_picked_twice_and_sent_with_a_preview_are_stored_once(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    fake_slack.add_user(ALICE.id, email="alice@example.com")
    ids = [fake_slack.files.upload("terms.pdf", PDF), fake_slack.files.upload("terms (copy).pdf", PDF)]
    review = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, review, fake_slack=fake_slack, review_files=ids, review_options=True)

    assert "A preview is on its way" in texts(answer["view"]["blocks"])[0]
    assert await session.scalar(select(func.count()).select_from(StoredFile)) == 1
    links = (await session.execute(select(DeliveryAttachment.filename))).scalars().all()
    assert sorted(links) == ["terms (copy).pdf", "terms (copy).pdf", "terms.pdf", "terms.pdf"], "delivery + preview"


async def test_a_26_mb_selection_is_refused_inline_with_the_total_and_nothing_is_queued(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    part = PDF + b"\0" * (int(4.4 * MB) - len(PDF))
    ids = [fake_slack.files.upload(f"part-{n}.pdf", part) for n in range(6)]
    review = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, review, fake_slack=fake_slack, review_files=ids)

    assert answer["response_action"] == "errors"
    assert answer["errors"] == {BlockId.REVIEW_FILES: "These files total 26.4 MB; at most 25 MB in all."}
    assert await deliveries(session) == []
    assert fake_slack.files.downloads == [], "nothing is downloaded for a selection over the limit"


async def test_a_single_6_mb_file_is_refused_inline_with_its_size_and_the_limit(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    file_id = fake_slack.files.upload("invoice.pdf", PDF + b"\0" * (int(6.2 * MB) - len(PDF)))
    review = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, review, fake_slack=fake_slack, review_files=[file_id])

    assert answer["errors"] == {BlockId.REVIEW_FILES: "invoice.pdf is 6.2 MB; each file may be at most 5 MB."}
    assert await deliveries(session) == []


async def test_a_program_renamed_pdf_is_refused_on_the_form_and_nothing_is_queued(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\0" * 500
    file_id = fake_slack.files.upload("invoice.pdf", program, mimetype="application/pdf")
    review = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, review, fake_slack=fake_slack, review_files=[file_id])

    assert answer["response_action"] == "update"
    assert "invoice.pdf is a Windows program; programs and scripts are never attached." in notice(answer["view"])
    assert answer["view"]["submit"]["text"] == "Send", "the form comes back, to send without it"
    assert await deliveries(session) == []
    assert await session.scalar(select(func.count()).select_from(StoredFile)) == 0


async def test_a_file_id_slack_does_not_know_is_refused_inline(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    review = await open_review(slack, fake_slack, "INV-0001")

    answer = await submit(slack, review, fake_slack=fake_slack, review_files=["F0FORGED"])

    sentence = "One of the files could not be read from Slack (file_not_found); remove it and add it again."
    assert answer["errors"] == {BlockId.REVIEW_FILES: sentence}
    assert await deliveries(session) == []


async def test_when_slack_is_slow_to_describe_the_files_a_file_over_the_limit_is_said_on_the_form_after_the_ack(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
):
    await seed_invoice(session, org)
    file_id = fake_slack.files.upload("scan.pdf", PDF + b"\0" * (6 * MB))
    review = await open_review(slack, fake_slack, "INV-0001")
    fake_slack.delay_next("files.info", seconds=2.0)  # past the ack's budget: the app acks first

    answer = await submit(slack, review, fake_slack=fake_slack, review_files=[file_id])

    assert answer["response_action"] == "update"
    assert "scan.pdf is 6 MB; each file may be at most 5 MB." in notice(answer["view"])
    assert await deliveries(session) == []
