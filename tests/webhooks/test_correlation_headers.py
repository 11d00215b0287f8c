"""The email asks every provider to echo our delivery token in its webhooks."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser

from services.email.message import OutgoingEmail, compose_message


def test_the_message_carries_the_token_for_postmark_sendgrid_and_mailgun():
    email = OutgoingEmail(
        from_addr="invoices@example.com", from_name="Example", reply_to=None, to=["ap@acme.example"], cc=[], bcc=[],
        subject="Invoice INV-1", text="Hello", html="<p>Hello</p>", attachments=[],
        message_id="<inv-1@example.com>", correlation_id="k3j9-abcdef",
    )  # fmt: skip
    message = compose_message(email)
    parsed = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert parsed["X-Invoicebot-Delivery"] == "k3j9-abcdef"
    assert parsed["X-PM-Metadata-invoicebot-delivery"] == "k3j9-abcdef"
    assert json.loads(parsed["X-SMTPAPI"]) == {"unique_args": {"invoicebot_delivery": "k3j9-abcdef"}}
    assert json.loads(parsed["X-Mailgun-Variables"]) == {"invoicebot_delivery": "k3j9-abcdef"}
