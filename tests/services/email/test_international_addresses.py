"""Internationalised addresses on the wire, against the in-memory transport and a real aiosmtpd.

A domain such as `bücher.example` goes on the envelope in IDNA A-labels and stays
recognisable in the headers; a non-ASCII local part (`zoë@…`) travels with SMTPUTF8 when
the server offers it, and otherwise that recipient is refused with a sentence saying why.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import Parser

import idna
import pytest
from sqlalchemy import select

from services.db.models import AuditLog, utcnow
from services.email.message import OutgoingEmail, compose_message_bytes
from services.email.transport import Envelope, PermanentSendError
from services.email.verification import SmtpCheck, accepts_smtputf8, record_smtp_check
from tests.harness.mail import Peer

IDN_RECIPIENT = "ap@bücher.example"
UTF8_RECIPIENT = "zoë@example.com"


def invoice_email(*, to: list[str], cc: list[str] = ()) -> bytes:  # type: ignore[assignment]
    return compose_message_bytes(
        OutgoingEmail(
            from_addr="invoices@example.com",
            from_name="Example Trading",
            reply_to=None,
            to=to,
            cc=list(cc),
            bcc=[],
            subject="Invoice INV-1",
            text="Please find the invoice attached.",
            html="<p>Please find the invoice attached.</p>",
            attachments=[],
            message_id="<inv-1.abc@example.com>",
            correlation_id="tok-1",
        )
    )


def parsed(data: bytes) -> EmailMessage:
    """As a receiving client reads it: UTF-8 headers (RFC 6532) decoded, not escaped."""
    return Parser(policy=policy.default).parsestr(data.decode("utf-8"))


async def test_an_idn_domain_goes_on_the_envelope_as_a_label_and_reads_back_in_the_headers(peer: Peer):
    peer.script.smtputf8 = False  # an IDN domain alone needs nothing of the server
    data = invoice_email(to=[IDN_RECIPIENT])

    result = await peer.transport.send(Envelope("bounces+tok-1@bücher.example", [IDN_RECIPIENT]), data)

    assert result.accepted == [IDN_RECIPIENT] and result.refused == {}
    [received] = peer.received
    assert received.mail_from == "bounces+tok-1@xn--bcher-kva.example"
    assert received.recipients == ["ap@xn--bcher-kva.example"]
    assert "SMTPUTF8" not in [option.upper() for option in received.mail_options]
    assert received.data.isascii(), "a 7-bit message: the domain is written in A-labels"
    [to] = parsed(received.data)["To"].addresses
    assert f"{to.username}@{idna.decode(to.domain)}" == IDN_RECIPIENT


async def test_a_non_ascii_local_part_is_delivered_with_smtputf8_when_the_server_offers_it(peer: Peer):
    data = invoice_email(to=[UTF8_RECIPIENT, IDN_RECIPIENT])

    result = await peer.transport.send(Envelope("bounces+tok-1@example.com", [UTF8_RECIPIENT, IDN_RECIPIENT]), data)

    assert result.accepted == [UTF8_RECIPIENT, IDN_RECIPIENT] and result.refused == {}
    [received] = peer.received
    assert "SMTPUTF8" in [option.upper() for option in received.mail_options]
    assert received.recipients == ["zoë@example.com", "ap@xn--bcher-kva.example"]
    to = [address.addr_spec for address in parsed(received.data)["To"].addresses]
    assert to == ["zoë@example.com", "ap@xn--bcher-kva.example"]


async def test_without_smtputf8_a_non_ascii_local_part_is_refused_with_a_sentence_and_the_rest_is_sent(peer: Peer):
    peer.script.smtputf8 = False
    data = invoice_email(to=[IDN_RECIPIENT])  # zoë only on the envelope (Bcc): the message itself is 7-bit

    result = await peer.transport.send(Envelope("bounces+tok-1@example.com", [IDN_RECIPIENT, UTF8_RECIPIENT]), data)

    assert result.accepted == [IDN_RECIPIENT]
    assert result.refused == {
        UTF8_RECIPIENT: "553 5.6.7 zoë@… has a non-ASCII name before the @; your mail server does not accept "
        "such addresses (no SMTPUTF8)"
    }
    [received] = peer.received
    assert received.recipients == ["ap@xn--bcher-kva.example"]


async def test_without_smtputf8_an_email_whose_headers_need_it_fails_permanently_and_nothing_is_sent(peer: Peer):
    peer.script.smtputf8 = False
    data = invoice_email(to=[UTF8_RECIPIENT, IDN_RECIPIENT])

    with pytest.raises(PermanentSendError) as raised:
        await peer.transport.send(Envelope("bounces+tok-1@example.com", [UTF8_RECIPIENT, IDN_RECIPIENT]), data)

    assert "zoë@… has a non-ASCII name before the @" in str(raised.value)
    assert UTF8_RECIPIENT in raised.value.refused
    assert peer.received == []


@pytest.mark.parametrize("offers", [True, False])
async def test_verifying_the_smtp_settings_records_whether_the_server_offers_smtputf8(peer: Peer, session, org, offers):
    peer.script.smtputf8 = offers

    features = await peer.transport.verify()
    check = SmtpCheck(ok=True, smtputf8=features.smtputf8)
    await record_smtp_check(session, organisation_id=org.id, check=check, actor="cli", now=utcnow())
    await session.commit()

    assert features.smtputf8 is offers
    assert await accepts_smtputf8(session, organisation_id=org.id) is offers
    audit = await session.scalar(select(AuditLog.detail).where(AuditLog.action == "smtp.verified"))
    assert audit == {"reason": "", "smtputf8": offers}
