"""*Revoke link* under `/invoices show`, and *Preview PDF* of a draft: signed Slack requests to the real app."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.slack_requests import SlackRequestClient, button_click, overflow_choice
from services.db.models import AuditLog, Invoice, InvoiceStatus, Organisation
from tests import factories
from tests.harness.reading import texts
from tests.harness.slack import ALICE, BOB, settings_with

# The e2e settings, with Alice as the one admin and a fixed secret for signed links.
settings = settings_with(INVOICEBOT_ADMINS="U0ALICE", INVOICEBOT_SECRET_KEY="e2e-links-secret-0123456789abcdef")


async def _show(slack: SlackRequestClient, fake_slack: FakeSlackApi, number: str, key: str) -> list[dict[str, Any]]:
    await slack.command(f"show {number}", user=ALICE, response_url=fake_slack.response_url(key))
    await fake_slack.wait_until(lambda: len(fake_slack.responses_to(key)) == 1)
    blocks: list[dict[str, Any]] = fake_slack.responses_to(key)[0].body["blocks"]
    return blocks


async def _sent_invoice(session: AsyncSession, org: Organisation, number: str = "INV-0042") -> Invoice:
    acme = await factories.customer(session, org.id)
    invoice = await factories.invoice(session, org.id, acme, number=number)
    invoice.status = InvoiceStatus.SENT
    await session.commit()
    return invoice


def _revoke_button(blocks: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    [block] = [b for b in blocks if b.get("block_id") == "invoice_link_actions"]
    [button] = block["elements"]
    return button, block["block_id"]


async def test_an_admin_revokes_the_link_after_confirming_and_the_old_link_answers_410(
    slack: SlackRequestClient,
    fake_slack: FakeSlackApi,
    session: AsyncSession,
    org: Organisation,
    web_url: str,
) -> None:
    invoice = await _sent_invoice(session, org)
    old_token, invoice_id = invoice.public_token, invoice.id
    button, block_id = _revoke_button(await _show(slack, fake_slack, "INV-0042", "show"))
    assert button["text"]["text"] == "Revoke link" and button["style"] == "danger"
    assert button["confirm"]["confirm"]["text"] == "Revoke link"
    assert "stops working" in button["confirm"]["text"]["text"]

    await slack.click(button_click(button, block_id=block_id), user=ALICE, response_url=fake_slack.response_url("rv"))
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to("rv")))

    [answer] = fake_slack.responses_to("rv")
    assert answer.body["response_type"] == "ephemeral"
    assert "<@U0ALICE> revoked the links sent for *INV-0042*" in answer.body["text"]
    session.expire_all()
    fresh = (await session.execute(select(Invoice).where(Invoice.id == invoice_id))).scalar_one()
    assert fresh.public_token != old_token
    audit = (await session.execute(select(AuditLog.actor, AuditLog.action))).all()
    assert ("U0ALICE", "invoice_link_revoked") in audit
    async with httpx.AsyncClient(timeout=10) as client:
        withdrawn = await client.get(f"{web_url}/i/{old_token}")
        new_link = await client.get(f"{web_url}/i/{fresh.public_token}")
    assert withdrawn.status_code == 410 and "withdrawn by the sender" in withdrawn.text
    assert new_link.status_code == 200


async def test_someone_not_an_admin_is_told_so_and_the_link_keeps_working(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation
) -> None:
    invoice = await _sent_invoice(session, org)
    token = invoice.public_token
    button, block_id = _revoke_button(await _show(slack, fake_slack, "INV-0042", "show"))

    await slack.click(button_click(button, block_id=block_id), user=BOB, response_url=fake_slack.response_url("rv"))
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to("rv")))

    [answer] = fake_slack.responses_to("rv")
    assert answer.body["text"] == "You can't revoke invoice links: only admins can; ask an admin to do it for you."
    session.expire_all()
    assert (await session.execute(select(Invoice.public_token))).scalar_one() == token
    assert (await session.execute(select(AuditLog))).first() is None


async def test_a_draft_has_no_revoke_button_and_its_preview_pdf_link_opens(
    slack: SlackRequestClient, fake_slack: FakeSlackApi, session: AsyncSession, org: Organisation, web_url: str
) -> None:
    acme = await factories.customer(session, org.id)
    await factories.invoice(session, org.id, acme, number="INV-0009", status=InvoiceStatus.DRAFT)
    await session.commit()
    shown = await _show(slack, fake_slack, "INV-0009", "show")
    assert not [b for b in shown if b.get("block_id") == "invoice_link_actions"]

    listing = (await slack.command("due", user=ALICE, response_url=fake_slack.response_url())).json()
    [row] = [b for b in listing["blocks"] if b.get("block_id", "").startswith("due_row")]
    choice = overflow_choice(row["elements"][1], block_id=row["block_id"], option_value="preview_pdf:INV-0009")
    await slack.click(choice, user=ALICE, response_url=fake_slack.response_url("pdf"))
    await fake_slack.wait_until(lambda: bool(fake_slack.responses_to("pdf")))

    [answer] = fake_slack.responses_to("pdf")
    assert "(this link works for 15 minutes)" in texts(answer.body["blocks"])[0]
    link = answer.body["text"].split(": ", 1)[1]
    assert link.startswith("http://localhost:3000/p/")
    async with httpx.AsyncClient(timeout=10) as client:
        pdf = await client.get(web_url + link.removeprefix("http://localhost:3000"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"] == 'attachment; filename="INV-0009.pdf"'
