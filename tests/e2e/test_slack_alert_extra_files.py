"""A fix-and-resend of a refused send carries the same extra attachments, byte for byte (issue 16).

The failure is real (the scripted SMTP server answers 550), the alert is posted by the notifier,
*Fix address & resend* is clicked and submitted with signed requests to the real web app, and the
resend is read as the SMTP server received it.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest

from handlers.ids import BlockId
from services.sending.extra_files import PDF, CheckedFile
from services.sending.extra_store import store_extra_files
from tests.harness.modals import FIX_QUEUED, open_fix_modal, submit_fix
from tests.harness.reading import channel_messages
from tests.harness.sending import make_worker, queue_delivery
from tests.harness.slack import CHANNEL, settings_with

settings = settings_with(INVOICEBOT_NOTIFY_CHANNEL=CHANNEL)
pytestmark = pytest.mark.smtp_client(timeout=1.0, pool_size=1)

TERMS = b"%PDF-1.4\n% the terms and conditions\n%%EOF\n"


async def test_fix_address_and_resend_attaches_the_same_extra_files(
    session, sessions, org, smtp, transport, notifier, fake_slack, slack
):
    smtp.script.reply_rcpt["ap@acme.example"] = "550 5.1.1 <ap@acme.example>: Recipient address rejected"
    delivery = await queue_delivery(session, org, number="INV-0007")
    await store_extra_files(
        session, delivery_ids=[delivery.id], files=[CheckedFile("Geschäftsbedingungen.pdf", TERMS, PDF)]
    )
    await session.commit()
    await make_worker(sessions, transport).drain()
    assert await notifier.drain_once() == 2
    _status, alert = channel_messages(fake_slack)

    modal = await open_fix_modal(slack, fake_slack, alert)
    typed: dict[str, Any] = {
        BlockId.FIX_EMAILS: {"emails": {"type": "plain_text_input", "value": "accounts@acme.example"}}
    }
    accepted = await submit_fix(slack, fake_slack, modal, typed)
    assert [b["text"]["text"] for b in accepted["view"]["blocks"]] == FIX_QUEUED
    await make_worker(sessions, transport).drain()

    [resent] = [m for m in smtp.received if m.recipients == ["accounts@acme.example"]]
    email = message_from_bytes(resent.data, policy=policy.default)
    parts = [(p.get_filename(), p.get_payload(decode=True)) for p in email.iter_attachments()]
    assert [name for name, _content in parts] == ["INV-0007.pdf", "INV-0007.xml", "Geschäftsbedingungen.pdf"]
    assert parts[2][1] == TERMS, "after the PDF and UBL, the very bytes the failed send carried"
